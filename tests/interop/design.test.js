// Design documents with a real client: PouchDB (node, in-memory adapter,
// pouchdb-mapreduce) against `settee serve` running settee-js.
//
//   - query() on settee's views gives what PouchDB's own local mapreduce
//     gives on the same documents and design document: map rows, _sum and
//     _count and a JavaScript reduce, group and group_level, keys,
//     startkey/endkey, descending, limit/skip, include_docs;
//   - replicate.from(settee, {filter: 'ddoc/name', query_params}) and
//     {filter: '_view', view}: only the documents the function keeps arrive;
//   - a write a validate_doc_update refuses reaches PouchDB as CouchDB's
//     403 forbidden, from put() and as a replication's write failure.
//
// The server is started on an ephemeral 127.0.0.1 port and stopped by PID;
// COUCHDB_QUERY_SERVER_JAVASCRIPT (set by the test's environment) names
// this build's settee-js.  Every wait is bounded.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const PouchDB = require('pouchdb-core')
  .plugin(require('pouchdb-adapter-memory'))
  .plugin(require('pouchdb-adapter-http'))
  .plugin(require('pouchdb-replication'))
  .plugin(require('pouchdb-mapreduce'));
const { start, stop, withTimeout } = require('./settee_server.js');

const ADMIN = ['admin', 'interop-design-pw'];
const AUTH = 'Basic ' + Buffer.from(ADMIN.join(':')).toString('base64');

let srv;
let counter = 0;

const DDOC = {
  _id: '_design/app',
  views: {
    byn: { map: 'function (doc) { if (typeof doc.n === "number") emit(doc.n, doc.n); }', reduce: '_sum' },
    bytag: { map: 'function (doc) { if (doc.tag) emit([doc.tag, doc.n], 1); }', reduce: '_count' },
    js: {
      map: 'function (doc) { if (doc.tag) emit(doc.tag, doc.n); }',
      reduce: 'function (keys, values, rereduce) { return sum(values); }',
    },
    plain: { map: 'function (doc) { if (doc.t) emit(doc.t, null); }' },
  },
  filters: {
    by_t: 'function (doc, req) { return doc.t === req.query.t; }',
  },
  validate_doc_update:
    'function (newDoc, oldDoc, userCtx) { if (newDoc.bad) throw({forbidden: "no bad documents"}); }',
};

function docs() {
  const out = [];
  const tags = ['red', 'green', 'blue'];
  for (let i = 0; i < 30; i++) {
    out.push({ _id: `d${String(i).padStart(2, '0')}`, n: i, tag: tags[i % 3], t: i % 4 ? 'y' : 'x' });
  }
  return out;
}

function remote(name) {
  return new PouchDB(`${srv.base}/${name}`, {
    fetch: (url, opts) => {
      opts.headers.set('Authorization', AUTH);
      return PouchDB.fetch(url, opts);
    },
  });
}

// A settee database and a PouchDB one with the same documents.
async function pair() {
  const name = `design${counter++}`;
  const r = remote(name);
  await r.info(); // created by the http adapter
  await r.put(JSON.parse(JSON.stringify(DDOC)));
  const res = await r.bulkDocs(docs());
  assert.ok(res.every((x) => x.ok), JSON.stringify(res));
  const local = new PouchDB(`local-${name}`, { adapter: 'memory' });
  await local.put(JSON.parse(JSON.stringify(DDOC)));
  await local.bulkDocs(docs());
  return { r, local, name };
}

// What a query answers, without the fields only one side reports.  offset
// is left out: PouchDB's local mapreduce reports the skip there, CouchDB
// (and settee) the position of the first row in the view; it is checked
// against CouchDB's meaning below.
function shape(res) {
  const out = { rows: res.rows.map((row) => {
    const o = { key: row.key, value: row.value };
    if ('id' in row) o.id = row.id;
    if (row.doc) o.doc = { _id: row.doc._id, n: row.doc.n, tag: row.doc.tag, t: row.doc.t };
    return o;
  }) };
  if ('total_rows' in res) out.total_rows = res.total_rows;
  return out;
}

test.before(async () => {
  assert.ok(process.env.COUCHDB_QUERY_SERVER_JAVASCRIPT, 'the query server must be named');
  srv = await start({ admin: ADMIN, ini: '[couchdb]\ndefault_security = everyone\n' });
});

test.after(async () => {
  await stop(srv);
});

test('query() on settee views answers as PouchDB does locally', async () => {
  const { r, local } = await pair();
  const cases = [
    ['app/byn', { reduce: false }],
    ['app/byn', {}],
    ['app/byn', { reduce: false, startkey: 5, endkey: 12 }],
    ['app/byn', { reduce: false, startkey: 12, endkey: 5, descending: true }],
    ['app/byn', { reduce: false, keys: [7, 3, 100, 21] }],
    ['app/byn', { reduce: false, limit: 4, skip: 3 }],
    ['app/byn', { reduce: false, startkey: 3, endkey: 6, inclusive_end: false }],
    ['app/byn', { reduce: false, key: 9, include_docs: true }],
    ['app/byn', { startkey: 10, endkey: 19 }],
    ['app/bytag', { group: true }],
    ['app/bytag', { group_level: 1 }],
    ['app/bytag', { group_level: 0 }],
    ['app/bytag', { reduce: false, startkey: ['green'], endkey: ['green', {}] }],
    ['app/bytag', { group: true, keys: [['red', 3], ['blue', 2], ['red', 4]] }],
    ['app/js', { group: true }],
    ['app/js', {}],
    ['app/plain', { key: 'x', include_docs: true }],
    ['app/plain', { limit: 0 }],
  ];
  for (const [view, opts] of cases) {
    const want = shape(await local.query(view, opts));
    const got = shape(await withTimeout(r.query(view, opts), 20000, `query ${view}`));
    assert.deepStrictEqual(got, want, `${view} ${JSON.stringify(opts)}`);
  }
  const ranged = await r.query('app/byn', { reduce: false, startkey: 5, endkey: 12 });
  assert.strictEqual(ranged.offset, 5);
  assert.strictEqual(ranged.total_rows, 30);
  // Where CouchDB refuses what PouchDB's local mapreduce allows, settee
  // answers as CouchDB.
  await assert.rejects(r.query('app/bytag', { group_level: 1, keys: [['red', 3]] }),
                       (e) => e.status === 400 && e.name === 'query_parse_error');
  // A view that is not there: PouchDB's not_found, as from CouchDB.
  await assert.rejects(r.query('app/nope'), (e) => e.status === 404);
});

test('replicate.from(settee) with a filter function and query_params', async () => {
  const { r } = await pair();
  const target = new PouchDB(`filtered-${counter++}`, { adapter: 'memory' });
  const res = await withTimeout(target.replicate.from(r, { filter: 'app/by_t', query_params: { t: 'x' } }),
                                20000, 'filtered replication');
  assert.strictEqual(res.ok, true);
  const all = await target.allDocs();
  const want = docs().filter((d) => d.t === 'x').map((d) => d._id);
  assert.deepStrictEqual(all.rows.map((row) => row.id), want);
  // Again: the checkpoint holds, nothing is read twice.
  const again = await target.replicate.from(r, { filter: 'app/by_t', query_params: { t: 'x' } });
  assert.strictEqual(again.docs_written, 0);
  // Other parameters are another replication; the function sees them.
  await target.replicate.from(r, { filter: 'app/by_t', query_params: { t: 'y' } });
  assert.strictEqual((await target.allDocs()).rows.length, 30);

  // filter=_view: the documents the map emits for.
  const viewed = new PouchDB(`viewed-${counter++}`, { adapter: 'memory' });
  await viewed.replicate.from(r, { filter: '_view', view: 'app/plain' });
  assert.strictEqual((await viewed.allDocs()).rows.length, 30);
  // A missing filter function fails the replication with CouchDB's 404.
  const none = new PouchDB(`none-${counter++}`, { adapter: 'memory' });
  await assert.rejects(none.replicate.from(r, { filter: 'app/nope' }), (e) => e.status === 404);
});

test('validate_doc_update refusals reach PouchDB as 403 forbidden', async () => {
  const { r } = await pair();
  await assert.rejects(r.put({ _id: 'bad1', bad: true }), (e) => {
    assert.strictEqual(e.status, 403);
    assert.strictEqual(e.name, 'forbidden');
    assert.strictEqual(e.message, 'no bad documents');
    return true;
  });
  const bulk = await r.bulkDocs([{ _id: 'good', n: 100 }, { _id: 'bad2', bad: true }]);
  assert.strictEqual(bulk[0].ok, true);
  // Per document, as CouchDB's _bulk_docs answers it (PouchDB gives such
  // rows status 500 whatever the server: only conflicts get theirs).
  assert.strictEqual(bulk[1].error, 'forbidden');
  assert.strictEqual(bulk[1].name, 'forbidden');
  assert.strictEqual(bulk[1].reason, 'no bad documents');
  // Replicated writes are validated too: the bad one is a write failure.
  const src = new PouchDB(`push-${counter++}`, { adapter: 'memory' });
  await src.bulkDocs([{ _id: 'ok3', n: 3 }, { _id: 'bad3', bad: true }]);
  const res = await withTimeout(src.replicate.to(r), 20000, 'push');
  assert.strictEqual(res.docs_written, 1);
  assert.strictEqual(res.doc_write_failures, 1);
  await assert.rejects(r.get('bad3'), (e) => e.status === 404);
  assert.strictEqual((await r.get('ok3')).n, 3);
});
