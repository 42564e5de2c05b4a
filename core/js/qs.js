/* qs.js — what each query-server command does, run by settee-js.
 *
 * settee-js (C) reads a request line, parses it with Duktape's JSON.parse and
 * calls the function this file evaluates to; it answers with the string that
 * returns.  This file is the equivalent of CouchDB's share/server/*.js, kept
 * in JavaScript because the protocol's behaviour is defined in terms of what
 * JavaScript values do (what a thrown value looks like, truthiness, how
 * require() walks a design document), and the JavaScript reads like the
 * behaviour it implements; the C side owns I/O, limits and the sandbox.
 *
 * `host` is a closure-only object of C natives: user code never sees it.
 *   host.global        the global object user functions run in
 *   host.compile(s,n)  compile user source s (file name n) to a function,
 *                      or return what the source evaluates to
 *   host.write(line)   write one line (a log line) before the answer
 *   host.gc()          run a full collection
 *   host.fatal()       exit after this answer (CouchDB's "fatal" errors)
 *   host.mapSetup(funs, require, onError, stringify, failed)
 *                      what map_doc uses: settee-js runs map_doc lines in C
 *                      (js_map.c) with these, not through dispatch
 *   host.emit          emit() as user code sees it
 *   host.emitted()     whether emit ran outside host.map since the last call
 *
 * User functions see the standard built-ins (JSON, Date, Math, ...) and the
 * CouchDB helpers emit, sum, log, toJSON, isArray and require; nothing here
 * or in settee-js gives them file, network or process access.  All functions
 * of one process share one global object, as in CouchDB's query servers.
 */
(function (host) {
    'use strict';

    /* Captured once: a user function that replaces JSON.stringify or
     * Array.prototype.push must not change what the protocol writes. */
    var stringify = JSON.stringify;
    var isArray = Array.isArray;
    var hasOwn = Object.prototype.hasOwnProperty;
    var toStr = Object.prototype.toString;
    var global = host.global;
    var LOG_MAX = 65536;

    var funs = [];            /* add_fun'd map functions, in order */
    var viewRequire = null;   /* require() for the map functions */
    var queryConfig = {};     /* the reset config ({reduce_limit, timeout}) */
    var reduceCache = dict(); /* reduce source -> compiled function */
    var reduceCacheSize = 0;
    var ddocs = dict();       /* ddoc id -> {doc, funs: {path: fn}, require} */
    var lineLength = 0;       /* length of the request line (reduce_limit) */

    /* ---- helpers ------------------------------------------------------ */

    /* Maps keyed by caller-supplied strings: no prototype, so that a key
     * such as "__proto__" is only a key. */
    function dict() {
        return Object.create(null);
    }

    function describe(e) {
        if (e !== null && typeof e === 'object' && typeof e.name === 'string' &&
            typeof e.message === 'string')
            return String(e);
        try {
            var s = stringify(e);
            if (typeof s === 'string')
                return s;
        } catch (ignored) {
        }
        try {
            return String(e);
        } catch (ignored) {
            return '(a value that cannot be shown)';
        }
    }

    function encode(value) {
        var s = stringify(value);
        return typeof s === 'string' ? s : 'null';
    }

    function writeLog(message) {
        var s = typeof message === 'string' ? message : describe(message);
        if (s.length > LOG_MAX)
            s = s.substring(0, LOG_MAX) + '... (log message truncated)';
        host.write(stringify(['log', s]));
    }

    /* ---- what user code sees ----------------------------------------- */

    /* Rows are kept (and written) by js_map.c. */
    global.emit = host.emit;

    global.sum = function sum(values) {
        var rv = 0;
        for (var i in values)
            rv += values[i];
        return rv;
    };

    global.log = function log(message) {
        writeLog(message);
    };

    global.toJSON = function toJSON(value) {
        return stringify(value);
    };

    global.isArray = function (obj) {
        return toStr.call(obj) === '[object Array]';
    };

    /* Duktape's own object offers stack introspection and error hooks;
     * nothing CouchDB offers needs it. */
    delete global.Duktape;

    /* ---- compiling ---------------------------------------------------- */

    function compile(source, name) {
        var fn;
        if (typeof source !== 'string' || source === '')
            throw ['error', 'not_found', 'missing function'];
        try {
            fn = host.compile(source, name);
        } catch (e) {
            throw ['error', 'compilation_error', describe(e) + ' (' + source + ')'];
        }
        if (typeof fn !== 'function')
            throw ['error', 'compilation_error',
                          'Expression does not eval to a function. (' + source + ')'];
        return fn;
    }

    /* require() for functions of `root` (a ddoc, or {views: {lib: ...}}):
     * CommonJS modules are strings inside the document; ids are their paths
     * ("views/lib/util"), "./" and "../" are relative to the requiring
     * module's directory, and each module runs once per document. */
    function makeRequire(root, cache) {
        function resolve(name, dir) {
            var parts = String(name).split('/');
            var path = parts[0] === '.' || parts[0] === '..' ? dir.slice() : [];
            var node = root;
            for (var i = 0; i < parts.length; i++) {
                var p = parts[i];
                if (p === '.')
                    continue;
                if (p === '..') {
                    if (path.length === 0)
                        throw ['error', 'invalid_require_path',
                                      'Object has no parent ' + preview(root)];
                    path.pop();
                } else {
                    path.push(p);
                }
            }
            for (var j = 0; j < path.length; j++) {
                if (node === null || typeof node !== 'object' || node[path[j]] === undefined)
                    throw ['error', 'invalid_require_path',
                                  'Object has no property "' + path[j] + '". ' + preview(node)];
                node = node[path[j]];
            }
            if (typeof node !== 'string')
                throw ['error', 'invalid_require_path',
                              'Must require a JavaScript string, not: ' + typeof node];
            return {id: path.join('/'), dir: path.slice(0, path.length - 1), source: node};
        }

        function requireFrom(dir) {
            return function require(name) {
                var m = resolve(name, dir);
                if (hasOwn.call(cache, m.id))
                    return cache[m.id].exports;
                var module = {id: m.id, exports: {}};
                /* Cached before it runs, so a circular require sees the
                 * exports filled so far instead of recursing forever. */
                cache[m.id] = module;
                try {
                    var body = host.compile('function (module, exports, require) { ' +
                                            m.source + '\n}', m.id);
                    body.call(global, module, module.exports, requireFrom(m.dir));
                } catch (e) {
                    delete cache[m.id];
                    if (isArray(e) && (e[0] === 'error' || e[0] === 'fatal'))
                        throw e;
                    throw ['error', 'compilation_error',
                                  "Module require('" + name + "') raised error " + describe(e)];
                }
                return module.exports;
            };
        }
        return requireFrom([]);
    }

    function preview(node) {
        var s;
        try {
            s = stringify(node);
        } catch (e) {
            s = String(node);
        }
        s = String(s);
        return s.length > 200 ? s.substring(0, 200) + '...' : s;
    }

    /* ---- errors ------------------------------------------------------- */

    /* The answer for a value thrown out of a command (CouchDB's
     * handleError).  An Error object is answered with its message where
     * CouchDB answers the object itself, which serializes as {}. */
    function errorLine(e) {
        if (isArray(e) && e[0] === 'fatal') {
            host.fatal();
            return encode(['error', e[1], e[2]]);
        }
        if (isArray(e) && e[0] === 'error')
            return encode(e);
        if (e !== null && typeof e === 'object') {
            if (e.error && e.reason)
                return encode(['error', e.error, e.reason]);
            if (typeof e.name === 'string' && e.name !== '')
                return encode(['error', e.name, typeof e.message === 'string' ? e.message : describe(e)]);
        }
        return encode(['error', 'unnamed_error', describe(e)]);
    }

    /* A map or reduce function threw: CouchDB logs it and goes on, unless
     * the function asked for the whole request to fail. */
    function viewError(e, doc, what) {
        if (e === 'fatal_error')
            throw ['error', what + '_runtime_error', "function raised 'fatal_error'"];
        if (isArray(e) && e[0] === 'fatal')
            throw e;
        var message = 'function raised exception ' + describe(e);
        if (doc !== null && typeof doc === 'object')
            message += ' with doc._id ' + doc._id;
        writeLog(message);
    }

    /* ---- views -------------------------------------------------------- */

    function reset(config) {
        funs = [];
        viewRequire = makeRequire({views: {lib: null}}, dict());
        reduceCache = dict();
        reduceCacheSize = 0;
        queryConfig = config !== null && typeof config === 'object' ? config : {};
        host.mapSetup(funs, viewRequire, mapError, stringify, failed);
        host.gc();
        return 'true';
    }

    function addLib(lib) {
        viewRequire = makeRequire({views: {lib: lib}}, dict());
        host.mapSetup(funs, viewRequire, mapError, stringify, failed);
        return 'true';
    }

    function addFun(source) {
        funs[funs.length] = compile(source, 'map');
        return 'true';
    }

    function mapError(e, doc) {
        viewError(e, doc, 'map');
    }

    function compileReduce(source) {
        if (typeof source === 'string' && hasOwn.call(reduceCache, source))
            return reduceCache[source];
        var fn = compile(source, 'reduce');
        if (reduceCacheSize >= 64) {
            reduceCache = dict();
            reduceCacheSize = 0;
        }
        reduceCache[source] = fn;
        reduceCacheSize++;
        return fn;
    }

    function runReduce(sources, keys, values, rereduce) {
        var fns = [], results = [];
        if (!isArray(sources))
            throw ['error', 'query_protocol_error', 'reduce functions must be a list'];
        for (var i = 0; i < sources.length; i++)
            fns[i] = compileReduce(sources[i]);
        global.require = undefined;
        for (var j = 0; j < fns.length; j++) {
            try {
                results[j] = fns[j](keys, values, rereduce);
            } catch (e) {
                viewError(e, null, 'reduce');
                results[j] = null;
            }
        }
        var line = encode(results);
        var limit = queryConfig.reduce_limit;
        if (limit && line.length > 200 && line.length * 2 > lineLength) {
            var message = 'Reduce output must shrink more rapidly: Current output: \'' +
                line.substring(0, 100) + "'... (first 100 of " + line.length + ' bytes)';
            if (limit !== 'log')
                throw ['error', 'reduce_overflow_error', message];
            writeLog(message);
        }
        return '[true,' + line + ']';
    }

    function reduce(sources, kvs) {
        var keys = [], values = [];
        if (!isArray(kvs))
            throw ['error', 'query_protocol_error', 'reduce rows must be a list'];
        for (var i = 0; i < kvs.length; i++) {
            var kv = kvs[i];
            keys[i] = isArray(kv) ? kv[0] : undefined;
            values[i] = isArray(kv) ? kv[1] : undefined;
        }
        return runReduce(sources, keys, values, false);
    }

    function rereduce(sources, values) {
        if (!isArray(values))
            throw ['error', 'query_protocol_error', 'rereduce values must be a list'];
        return runReduce(sources, null, values, true);
    }

    /* ---- design documents -------------------------------------------- */

    function filters(fn, ddoc, args) {
        var docs = isArray(args) && isArray(args[0]) ? args[0] : [];
        var req = isArray(args) ? args[1] : undefined;
        var out = [];
        for (var i = 0; i < docs.length; i++)
            out[i] = fn.call(ddoc, docs[i], req) ? true : false;
        return encode([true, out]);
    }

    /* The _view filter: a change passes when the view's map emits for it. */
    function viewFilter(fn, ddoc, args) {
        var docs = isArray(args) && isArray(args[0]) ? args[0] : [];
        var out = [];
        for (var i = 0; i < docs.length; i++) {
            host.emitted();
            fn(docs[i]);
            out[i] = host.emitted();
        }
        return encode([true, out]);
    }

    /* 1 when the write may go ahead, else the thrown value as it was thrown
     * ({"forbidden": m}, {"unauthorized": m}, a string, ...).  A runtime
     * error (an Error object) is an error answer instead. */
    function validate(fn, ddoc, args) {
        try {
            fn.apply(ddoc, isArray(args) ? args : []);
            return '1';
        } catch (e) {
            if (e !== null && typeof e === 'object' && e.name && e.stack)
                throw e;
            return encode(e);
        }
    }

    function renderError(e) {
        if ((e !== null && typeof e === 'object' && e.error && e.reason) ||
            (isArray(e) && (e[0] === 'error' || e[0] === 'fatal')))
            return e;
        var message = 'function raised error: ' + describe(e) + ' \nstacktrace: ' +
            (e !== null && typeof e === 'object' ? e.stack : undefined);
        writeLog(message);
        return ['error', 'render_error', message];
    }

    /* Update handlers: function(doc, req) returns [doc_or_null, response]. */
    function update(fn, ddoc, args) {
        try {
            var req = isArray(args) ? args[1] : undefined;
            if (req !== null && typeof req === 'object' && req.method === 'GET')
                throw ['error', 'method_not_allowed', 'Update functions do not allow GET'];
            var result = fn.apply(ddoc, isArray(args) ? args : []);
            var doc = result[0], resp = result[1];
            if (typeof resp === 'string')
                resp = {body: resp};
            else if (resp === null || typeof resp !== 'object' || isArray(resp))
                throw ['error', 'render_error', 'undefined response from update function'];
            return encode(['up', doc === undefined ? null : doc, resp]);
        } catch (e) {
            throw renderError(e);
        }
    }

    var ddocCommands = {
        filters: filters,
        views: viewFilter,
        validate_doc_update: validate,
        updates: update
    };

    function ddocFunction(entry, id, path) {
        var key = path.join('\u0000');
        if (hasOwn.call(entry.funs, key))
            return entry.funs[key];
        var point = entry.doc;
        for (var i = 0; i < path.length - 1 && point !== null && typeof point === 'object'; i++)
            point = point[path[i]];
        var source = point !== null && typeof point === 'object' ? point[path[path.length - 1]] : undefined;
        if (!source)
            throw ['error', 'not_found', 'missing ' + path[0] + ' function ' +
                          path[path.length - 1] + ' on design doc ' + id];
        var fn = compile(source, path.join('.'));
        entry.funs[key] = fn;
        return fn;
    }

    function ddoc(cmd) {
        var id = cmd[1];
        if (id === 'new') {
            ddocs[cmd[2]] = {doc: cmd[3], funs: dict(), require: makeRequire(cmd[3], dict())};
            return 'true';
        }
        var entry = typeof id === 'string' && hasOwn.call(ddocs, id) ? ddocs[id] : undefined;
        if (entry === undefined)
            throw ['fatal', 'query_protocol_error', 'uncached design doc: ' + id];
        var path = cmd[2];
        if (!isArray(path) || path.length === 0)
            throw ['fatal', 'query_protocol_error', 'function path must be a non-empty list'];
        var run = hasOwn.call(ddocCommands, path[0]) ? ddocCommands[path[0]] : undefined;
        if (run === undefined)
            throw ['fatal', 'unknown_command', "unknown ddoc command '" + path[0] + "'"];
        var fn = ddocFunction(entry, id, path);
        global.require = entry.require;
        return run(fn, entry.doc, cmd[3]);
    }

    /* ---- the loop's entry point -------------------------------------- */

    /* The answer for a command that threw. */
    function failed(e) {
        try {
            return errorLine(e);
        } catch (e2) {
            /* The thrown value defeats even describing it (a cyclic
             * reason, a throwing toJSON). */
            return '["error","unnamed_error","the thrown value cannot be serialized"]';
        }
    }

    reset(null);   /* a fresh process behaves as if reset (CouchDB's needs one) */

    return function dispatch(cmd, length) {
        lineLength = length;
        try {
            var name = isArray(cmd) ? cmd[0] : undefined;
            switch (name) {
            case 'reset': return reset(cmd[1]);
            case 'add_lib': return addLib(cmd[1]);
            case 'add_fun': return addFun(cmd[1]);
            /* map_doc lines go to js_map.c, which calls funs in turn
             * (settee-js froze the document while parsing the line, as
             * CouchDB seals it so that one map function cannot change
             * what the next one sees), with global.require the view's. */
            case 'reduce': return reduce(cmd[1], cmd[2]);
            case 'rereduce': return rereduce(cmd[1], cmd[2]);
            case 'ddoc': return ddoc(cmd);
            default:
                throw ['fatal', 'unknown_command', "unknown command '" + name + "'"];
            }
        } catch (e) {
            return failed(e);
        }
    };
})
