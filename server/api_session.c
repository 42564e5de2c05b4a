/* api_session.c — /_session: log in (POST), who am I (GET), log out
 * (DELETE), with CouchDB 3.5's shapes (PROTOCOL-2 A.5).
 *
 * The password check is auth.c's (the same path HTTP Basic takes: cache,
 * lockout, constant cost for unknown names); this file only reads the
 * request and writes the answer.  Passwords are wiped once checked.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "st_buf.h"
#include "api.h"
#include "auth.h"
#include "st_pct.h"

#define MAX_SESSION_BODY 131072u /* a name and a password of up to 64 KiB */

static void roles_out(st_jw *w, const st_roles *roles)
{
    st_jw_arr_open(w);
    for (size_t i = 0; i < roles->n; i++)
        st_jw_str(w, roles->v[i]);
    st_jw_arr_close(w);
}

void st_api_session_get(st_req *r)
{
    bool basic = false;
    if (!st_req_qbool(r, "basic", false, &basic))
        return;
    if (basic && !r->who.name) {
        st_resp_fail(r, ST_E_UNAUTHORIZED, "Please login.");
        return;
    }
    st_buf b = ST_BUF_INIT;
    st_jw w;
    if (!st_resp_jw_open(r, &w, &b))
        return;
    st_jw_obj_open(&w);
    st_jw_key(&w, "ok");
    st_jw_bool(&w, true);
    st_jw_key(&w, "userCtx");
    st_jw_obj_open(&w);
    st_jw_key(&w, "name");
    st_jw_str(&w, r->who.name); /* NULL → null */
    st_jw_key(&w, "roles");
    roles_out(&w, &r->who.roles);
    st_jw_obj_close(&w);
    st_jw_key(&w, "info");
    st_jw_obj_open(&w);
    st_jw_key(&w, "authentication_handlers");
    st_jw_arr_open(&w);
    const char *names[8];
    size_t n = st_auth_handler_names(r->srv->auth, names, 8);
    for (size_t i = 0; i < n; i++)
        st_jw_str(&w, names[i]);
    st_jw_arr_close(&w);
    if (r->who.how) {
        st_jw_key(&w, "authenticated");
        st_jw_str(&w, r->who.how);
    }
    st_jw_obj_close(&w);
    st_jw_obj_close(&w);
    st_resp_jw_close(r, &w, &b, 200);
}

typedef struct creds {
    char *name, *username, *password;
    size_t password_len;
} creds;

static void creds_free(creds *c)
{
    free(c->name);
    free(c->username);
    if (c->password) {
        OPENSSL_cleanse(c->password, c->password_len);
        free(c->password);
    }
}

/* name=...&password=... (later keys win, as CouchDB's proplist lookups). */
static void read_form(st_req *r, creds *c)
{
    const char *p = r->body.data ? r->body.data : "";
    size_t n = r->body.len, i = 0;
    while (i < n) {
        size_t e = i;
        while (e < n && p[e] != '&')
            e++;
        const char *eq = memchr(p + i, '=', e - i);
        if (eq) {
            char *k = st_pct_decode(p + i, (size_t)(eq - p - i), true);
            char *v = st_pct_decode(eq + 1, (size_t)(p + e - eq - 1), true);
            char **slot = !k                                ? NULL
                          : strcmp(k, "name") == 0          ? &c->name
                          : strcmp(k, "username") == 0      ? &c->username
                          : strcmp(k, "password") == 0      ? &c->password
                                                            : NULL;
            if (slot && v) {
                if (slot == &c->password && c->password) {
                    OPENSSL_cleanse(c->password, c->password_len);
                }
                free(*slot);
                *slot = v;
                if (slot == &c->password)
                    c->password_len = strlen(v);
                v = NULL;
            }
            free(k);
            if (v) {
                OPENSSL_cleanse(v, strlen(v));
                free(v);
            }
        }
        i = e + 1;
    }
}

static bool read_json(st_req *r, creds *c)
{
    st_json_doc *d = NULL;
    if (!st_req_json(r, MAX_SESSION_BODY, &d))
        return false;
    const st_json *root = st_json_doc_root(d);
    const st_json *pw = st_json_get(root, "password");
    const char *name = st_json_get_str(root, "name");
    const char *username = st_json_get_str(root, "username");
    c->name = name ? strdup(name) : NULL;
    c->username = username ? strdup(username) : NULL;
    if (pw && pw->type == ST_JSON_STRING) {
        c->password = st_memdup0(pw->u.str, pw->len);
        c->password_len = pw->len;
    }
    st_json_doc_free(d);
    return true;
}

static void redirect(st_req *r, const char *to)
{
    st_resp_text(r, 302, "application/json", "{\"ok\":true}\n");
    st_resp_header(r, MHD_HTTP_HEADER_LOCATION, to);
}

void st_api_session_post(st_req *r)
{
    creds c = {0};
    st_error e;
    char *cookie = NULL;
    if (st_req_ctype_is(r, "application/x-www-form-urlencoded")) {
        read_form(r, &c);
    } else if (st_req_ctype_is(r, "application/json")) {
        if (!read_json(r, &c))
            goto out;
    } else {
        st_resp_fail(r, ST_E_BAD_CONTENT_TYPE,
                     "Content-Type must be application/x-www-form-urlencoded or application/json");
        goto out;
    }
    if (c.name && c.username && strcmp(c.name, c.username) != 0) {
        st_resp_fail(r, ST_E_BAD_REQUEST, "request body contains different usernames");
        goto out;
    }
    const char *name = c.name ? c.name : c.username;
    if (!name) {
        st_resp_fail(r, ST_E_BAD_REQUEST, "request body must contain a username");
        goto out;
    }
    st_identity who;
    st_status st = st_auth_password(r->srv->auth, r->peer, name, c.password ? c.password : "",
                                    c.password ? c.password_len : 0, &who, &e);
    if (st != ST_OK) {
        const char *fail = st_req_q(r, "fail");
        if (fail && st == ST_E_UNAUTHORIZED)
            redirect(r, fail);
        else
            st_resp_status(r, &e);
        if (st_auth_cookie(r->srv->auth, NULL, r->tls, &cookie, NULL) == ST_OK)
            st_resp_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
        goto out;
    }
    if (st_auth_cookie(r->srv->auth, who.name, r->tls, &cookie, &e) != ST_OK) {
        st_identity_clear(&who);
        st_resp_status(r, &e);
        goto out;
    }
    const char *next = st_req_q(r, "next");
    if (next) {
        redirect(r, next);
    } else {
        st_buf b = ST_BUF_INIT;
        st_jw w;
        if (st_resp_jw_open(r, &w, &b)) {
            st_jw_obj_open(&w);
            st_jw_key(&w, "ok");
            st_jw_bool(&w, true);
            st_jw_key(&w, "name");
            st_jw_str(&w, who.name);
            st_jw_key(&w, "roles");
            roles_out(&w, &who.roles);
            st_jw_obj_close(&w);
            st_resp_jw_close(r, &w, &b, 200);
        }
    }
    st_resp_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
    st_identity_clear(&who);
out:
    free(cookie);
    creds_free(&c);
}

void st_api_session_delete(st_req *r)
{
    char *cookie = NULL;
    st_resp_ok(r, 200);
    if (st_auth_cookie(r->srv->auth, NULL, r->tls, &cookie, NULL) == ST_OK)
        st_resp_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
    free(cookie);
}
