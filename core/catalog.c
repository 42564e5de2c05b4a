/* catalog.c — databases under one directory, with shared open handles.
 *
 * File names encode the database name so any valid name (which may contain
 * '/', '$', '(' ...) maps to one flat, shell-safe file: bytes outside
 * [a-z0-9_-] become %XX.  Handles are opened on first use and kept in a
 * small list with reference counts; deleting a database unlinks its files
 * at once and closes the handle when its last user puts it back.
 */
#include "st_catalog.h"
#include "db_int.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SUFFIX ".settee"

typedef struct entry {
    char *name;
    st_db *db;
    unsigned refs;
    bool deleted;          /* unlinked; closed when refs drops to 0 */
    struct entry *next;
} entry;

struct st_catalog {
    char *dir;
    st_db_options opts;
    pthread_mutex_t mu;
    entry *open;
};

bool st_dbname_valid(const char *name)
{
    if (!name || !(name[0] >= 'a' && name[0] <= 'z'))
        return false;
    size_t n = strlen(name);
    if (n > 238)
        return false;
    for (const char *p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("_$()+-/", c)))
            return false;
    }
    return true;
}

static st_status name_error(const char *name, st_error *err)
{
    return st_fail(err, ST_E_ILLEGAL_DBNAME,
                   "Name: '%.200s'. Only lowercase characters (a-z), digits (0-9), and any of the "
                   "characters _, $, (, ), +, -, and / are allowed. Must begin with a letter.",
                   name ? name : "");
}

/* dir/<encoded>.settee into out (malloc'd). */
static char *db_path(const st_catalog *cat, const char *name)
{
    size_t n = strlen(cat->dir) + 1 + 3 * strlen(name) + sizeof SUFFIX;
    char *out = malloc(n);
    if (!out)
        return NULL;
    char *p = out + sprintf(out, "%s/", cat->dir);
    for (const char *s = name; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')
            *p++ = (char)c;
        else
            p += sprintf(p, "%%%02X", c);
    }
    strcpy(p, SUFFIX);
    return out;
}

static bool decode_name(const char *file, char *out, size_t cap)
{
    size_t fl = strlen(file), sl = strlen(SUFFIX);
    if (fl <= sl || strcmp(file + fl - sl, SUFFIX) != 0)
        return false;
    size_t o = 0;
    for (size_t i = 0; i < fl - sl; i++) {
        if (o + 1 >= cap)
            return false;
        if (file[i] == '%' && i + 2 < fl - sl) {
            unsigned v;
            if (sscanf(file + i + 1, "%2X", &v) != 1)
                return false;
            out[o++] = (char)v;
            i += 2;
        } else {
            out[o++] = file[i];
        }
    }
    out[o] = '\0';
    return st_dbname_valid(out);
}

st_status st_catalog_open(const char *dir, const st_db_options *opts, st_catalog **out,
                          st_error *err)
{
    *out = NULL;
    if (mkdir(dir, 0750) != 0 && errno != EEXIST)
        return st_fail(err, ST_E_IO, "cannot create data directory %s: %s", dir, strerror(errno));
    st_catalog *cat = calloc(1, sizeof *cat);
    if (!cat || !(cat->dir = strdup(dir))) {
        free(cat);
        return st_fail(err, ST_E_NOMEM, "out of memory");
    }
    if (opts)
        cat->opts = *opts;
    else
        st_db_options_init(&cat->opts);
    pthread_mutex_init(&cat->mu, NULL);
    *out = cat;
    return ST_OK;
}

void st_catalog_close(st_catalog *cat)
{
    if (!cat)
        return;
    for (entry *e = cat->open, *next; e; e = next) {
        next = e->next;
        st_db_close(e->db);
        free(e->name);
        free(e);
    }
    pthread_mutex_destroy(&cat->mu);
    free(cat->dir);
    free(cat);
}

static entry *find_open(st_catalog *cat, const char *name)
{
    for (entry *e = cat->open; e; e = e->next)
        if (!e->deleted && strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

bool st_catalog_exists(st_catalog *cat, const char *name)
{
    if (!st_dbname_valid(name))
        return false;
    char *path = db_path(cat, name);
    struct stat sb;
    bool ok = path && stat(path, &sb) == 0;
    free(path);
    return ok;
}

st_status st_catalog_create(st_catalog *cat, const char *name, st_error *err)
{
    if (!st_dbname_valid(name))
        return name_error(name, err);
    char *path = db_path(cat, name);
    if (!path)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_status st = ST_OK;
    pthread_mutex_lock(&cat->mu);
    struct stat sb;
    if (stat(path, &sb) == 0) {
        st = st_fail(err, ST_E_FILE_EXISTS,
                     "The database could not be created, the file already exists.");
    } else {
        st_db_options o = cat->opts;
        o.create = true;
        st_db *db = NULL;
        st = st_db_open(path, name, &o, &db, err);
        entry *e = st == ST_OK ? calloc(1, sizeof *e) : NULL;
        if (st == ST_OK && (!e || !(e->name = strdup(name)))) {
            free(e);
            e = NULL;
            st_db_close(db);
            st = st_fail(err, ST_E_NOMEM, "out of memory");
        }
        if (e) {
            e->db = db;
            e->next = cat->open;
            cat->open = e;
        }
    }
    pthread_mutex_unlock(&cat->mu);
    free(path);
    return st;
}

static void unlink_files(const char *path)
{
    static const char *const extra[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        char p[4096];
        snprintf(p, sizeof p, "%s%s", path, extra[i]);
        unlink(p);
    }
}

st_status st_catalog_delete(st_catalog *cat, const char *name, st_error *err)
{
    if (!st_dbname_valid(name))
        return name_error(name, err);
    char *path = db_path(cat, name);
    if (!path)
        return st_fail(err, ST_E_NOMEM, "out of memory");
    st_status st = ST_OK;
    st_db *to_close = NULL;
    pthread_mutex_lock(&cat->mu);
    struct stat sb;
    if (stat(path, &sb) != 0) {
        st = st_fail(err, ST_E_NOT_FOUND, "Database does not exist.");
    } else {
        unlink_files(path);
        entry *e = find_open(cat, name);
        if (e) {
            e->deleted = true;
            st_db_mark_deleted(e->db);
            if (e->refs == 0) {
                for (entry **p = &cat->open; *p; p = &(*p)->next) {
                    if (*p == e) {
                        *p = e->next;
                        break;
                    }
                }
                to_close = e->db;
                free(e->name);
                free(e);
            }
        }
    }
    pthread_mutex_unlock(&cat->mu);
    st_db_close(to_close);
    free(path);
    return st;
}

st_status st_catalog_get(st_catalog *cat, const char *name, st_db **out, st_error *err)
{
    *out = NULL;
    if (!st_dbname_valid(name))
        return name_error(name, err);
    st_status st = ST_OK;
    pthread_mutex_lock(&cat->mu);
    entry *e = find_open(cat, name);
    if (!e) {
        char *path = db_path(cat, name);
        st_db *db = NULL;
        struct stat sb;
        if (!path)
            st = st_fail(err, ST_E_NOMEM, "out of memory");
        else if (stat(path, &sb) != 0)
            st = st_fail(err, ST_E_NOT_FOUND, "Database does not exist.");
        else
            st = st_db_open(path, name, &cat->opts, &db, err);
        free(path);
        if (st == ST_OK) {
            e = calloc(1, sizeof *e);
            if (!e || !(e->name = strdup(name))) {
                free(e);
                e = NULL;
                st_db_close(db);
                st = st_fail(err, ST_E_NOMEM, "out of memory");
            } else {
                e->db = db;
                e->next = cat->open;
                cat->open = e;
            }
        }
    }
    if (e) {
        e->refs++;
        *out = e->db;
    }
    pthread_mutex_unlock(&cat->mu);
    return st;
}

void st_catalog_put(st_catalog *cat, st_db *db)
{
    if (!db)
        return;
    st_db *to_close = NULL;
    pthread_mutex_lock(&cat->mu);
    for (entry **p = &cat->open; *p; p = &(*p)->next) {
        entry *e = *p;
        if (e->db != db)
            continue;
        if (e->refs > 0)
            e->refs--;
        if (e->refs == 0 && e->deleted) {
            *p = e->next;
            to_close = e->db;
            free(e->name);
            free(e);
        }
        break;
    }
    pthread_mutex_unlock(&cat->mu);
    st_db_close(to_close);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

st_status st_catalog_list(st_catalog *cat, char ***out, size_t *out_n, st_error *err)
{
    *out = NULL;
    *out_n = 0;
    DIR *d = opendir(cat->dir);
    if (!d)
        return st_fail(err, ST_E_IO, "cannot read data directory: %s", strerror(errno));
    char **names = NULL;
    size_t n = 0, cap = 0;
    st_status st = ST_OK;
    struct dirent *de;
    char name[256];
    while ((de = readdir(d))) {
        if (!decode_name(de->d_name, name, sizeof name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn) {
                st = st_fail(err, ST_E_NOMEM, "out of memory");
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(name))) {
            st = st_fail(err, ST_E_NOMEM, "out of memory");
            break;
        }
        n++;
    }
    closedir(d);
    if (st != ST_OK) {
        st_catalog_names_free(names, n);
        return st;
    }
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    *out = names;
    *out_n = n;
    return ST_OK;
}

void st_catalog_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}
