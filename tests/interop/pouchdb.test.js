// PouchDB (node, in-memory adapter) against the real `settee serve` binary:
// replication, and pouchdb-find's _find/_index/_explain and selector
// replication compared with PouchDB's own local answers.
//
// The test starts the server itself on an ephemeral 127.0.0.1 port with a
// scratch data directory and --admin, and stops it by PID at the end.  Every
// wait is bounded in time; nothing here listens on or talks to anything but
// 127.0.0.1.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const PouchDB = require('pouchdb-core')
  .plugin(require('pouchdb-adapter-memory'))
  .plugin(require('pouchdb-adapter-http'))
  .plugin(require('pouchdb-replication'))
  .plugin(require('pouchdb-find'));

const BIN = process.env.SETTEE_BIN;
const ADMIN = 'admin';
const PASS = 'interop-pw';
const AUTH = 'Basic ' + Buffer.from(`${ADMIN}:${PASS}`).toString('base64');

let server; // child process
let base;   // http://127.0.0.1:PORT
let dataDir;
let dbCounter = 0;

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function startServer() {
  assert.ok(BIN, 'SETTEE_BIN must name the settee binary');
  const tmpRoot = process.env.SETTEE_TEST_TMP || os.tmpdir();
  fs.mkdirSync(tmpRoot, { recursive: true });
  dataDir = fs.mkdtempSync(path.join(tmpRoot, 'settee-interop-'));
  server = spawn(BIN, ['serve', '--data', dataDir, '--bind', '127.0.0.1', '--port', '0',
                       '--admin', `${ADMIN}:${PASS}`, '--log-level', 'warning'],
                 { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  base = await withTimeout(new Promise((resolve, reject) => {
    server.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) resolve(m[1]);
    });
    server.on('exit', (code) => reject(new Error(`settee exited early (${code})`)));
  }), 10000, 'server start');
}

async function stopServer() {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM'); // our own child, by PID
  try {
    await withTimeout(exited, 10000, 'server stop');
  } catch (e) {
    server.kill('SIGKILL');
    throw e;
  }
  assert.strictEqual(server.exitCode, 0, 'settee exits 0 on SIGTERM');
  fs.rmSync(dataDir, { recursive: true, force: true });
}

async function http(method, p, body) {
  const headers = { Authorization: AUTH, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await withTimeout(fetch(base + p, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  }), 10000, `${method} ${p}`);
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

function remote(name) {
  return new PouchDB(`${base}/${name}`, { auth: { username: ADMIN, password: PASS } });
}

function local() {
  return new PouchDB(`local-${process.pid}-${++dbCounter}`, { adapter: 'memory' });
}

function leaves(openRevs) {
  return openRevs.map((r) => (r.ok ? r.ok._rev : r.missing)).sort();
}

async function sameTree(a, b, id) {
  const [wa, wb] = await Promise.all([a.get(id, { conflicts: true }), b.get(id, { conflicts: true })]);
  assert.strictEqual(wa._rev, wb._rev, `winner of ${id}`);
  assert.deepStrictEqual((wa._conflicts || []).sort(), (wb._conflicts || []).sort(), `conflicts of ${id}`);
  const [la, lb] = await Promise.all([a.get(id, { open_revs: 'all' }), b.get(id, { open_revs: 'all' })]);
  assert.deepStrictEqual(leaves(la), leaves(lb), `leaves of ${id}`);
  return wa;
}

test.before(startServer);
test.after(stopServer);

test('push: documents, deletions and attachments reach settee', async () => {
  const src = local();
  const dst = remote('push');
  await src.bulkDocs([{ _id: 'a', n: 1 }, { _id: 'b', n: 2 }, { _id: 'gone', n: 3 }]);
  const gone = await src.get('gone');
  await src.remove(gone);
  await src.put({
    _id: 'att', _attachments: {
      'hello.txt': { content_type: 'text/plain', data: Buffer.from('hello world').toString('base64') },
    },
  });
  const res = await withTimeout(src.replicate.to(dst), 20000, 'push');
  assert.strictEqual(res.ok, true);
  assert.strictEqual(res.doc_write_failures, 0);
  const a = await http('GET', '/push/a');
  assert.strictEqual(a.status, 200);
  assert.strictEqual(a.json.n, 1);
  const g = await http('GET', '/push/gone');
  assert.strictEqual(g.status, 404);
  assert.strictEqual(g.json.reason, 'deleted');
  // New databases are admin-only (CouchDB 3's default): the admin reads it.
  const att = await withTimeout(fetch(`${base}/push/att/hello.txt`,
                                      { headers: { Authorization: AUTH } }), 10000, 'attachment');
  assert.strictEqual(att.status, 200);
  assert.strictEqual(await att.text(), 'hello world');
  assert.match(att.headers.get('content-type'), /^text\/plain/);
  // second run: nothing new, checkpoint reused
  const again = await withTimeout(src.replicate.to(dst), 20000, 'push again');
  assert.strictEqual(again.docs_written, 0);
});

test('pull: server-side writes, deletions and attachments reach PouchDB', async () => {
  assert.strictEqual((await http('PUT', '/pull')).status, 201);
  for (let i = 0; i < 150; i++) await http('PUT', `/pull/d${i}`, { i });
  const del = await http('PUT', '/pull/del', { x: 1 });
  await http('DELETE', `/pull/del?rev=${del.json.rev}`);
  const attRes = await withTimeout(fetch(`${base}/pull/withatt/data.bin`, {
    method: 'PUT', headers: { Authorization: AUTH, 'Content-Type': 'application/octet-stream' },
    body: Buffer.from([0, 1, 2, 3, 254, 255]),
  }), 10000, 'attachment put');
  assert.strictEqual(attRes.status, 201);
  const dst = local();
  const res = await withTimeout(dst.replicate.from(remote('pull')), 30000, 'pull');
  assert.strictEqual(res.ok, true);
  assert.strictEqual((await dst.get('d149')).i, 149);
  await assert.rejects(dst.get('del'), (e) => e.status === 404);
  const blob = await dst.getAttachment('withatt', 'data.bin');
  assert.deepStrictEqual([...blob], [0, 1, 2, 3, 254, 255]);
  const info = await dst.info();
  assert.strictEqual(info.doc_count, 151);
});

test('conflicts: both sides end with the same leaves and winner', async () => {
  const a = local();
  const srv = remote('conflicts');
  await a.put({ _id: 'c', v: 0 });
  await withTimeout(a.replicate.to(srv), 20000, 'seed');
  // concurrent edits of the same revision on both sides
  const base0 = await a.get('c');
  await a.put({ ...base0, v: 'pouch' });
  const s0 = await http('GET', '/conflicts/c');
  const sput = await http('PUT', '/conflicts/c', { ...s0.json, v: 'settee' });
  assert.strictEqual(sput.status, 201);
  // a deleted branch as well
  await a.put({ _id: 'd', v: 1 });
  await withTimeout(a.replicate.to(srv), 20000, 'seed d');
  const d0 = await a.get('d');
  await a.remove(d0);
  const sd = await http('GET', '/conflicts/d');
  await http('PUT', '/conflicts/d', { ...sd.json, v: 2 });
  await withTimeout(a.sync(srv), 30000, 'sync');
  const c = await sameTree(a, srv, 'c');
  assert.strictEqual(c._conflicts.length, 1);
  const d = await sameTree(a, srv, 'd');
  assert.strictEqual(d.v, 2, 'the live branch beats the deleted one');
  // the server reports the same thing over plain HTTP
  const raw = await http('GET', '/conflicts/c?conflicts=true');
  assert.strictEqual(raw.json._rev, c._rev);
  assert.deepStrictEqual(raw.json._conflicts, c._conflicts);
  // resolve on PouchDB, the resolution reaches settee
  await a.remove('c', c._conflicts[0]);
  await withTimeout(a.sync(srv), 30000, 'sync resolution');
  const after = await http('GET', '/conflicts/c?conflicts=true');
  assert.strictEqual(after.json._conflicts, undefined);
});

test('live sync sees a write made through the server within one second', async () => {
  assert.strictEqual((await http('PUT', '/live')).status, 201);
  const db = local();
  const sync = db.sync(remote('live'), { live: true, retry: false });
  const done = new Promise((resolve) => sync.on('complete', resolve));
  let feed = null;
  try {
    // wait until the first (empty) pass is done and the feed is parked
    await withTimeout(new Promise((resolve) => sync.on('paused', resolve)), 10000, 'paused');
    const seen = new Promise((resolve) => {
      feed = db.changes({ live: true, since: 'now' }).on('change', (ch) => {
        if (ch.id === 'ping') resolve(Date.now());
      });
    });
    const t0 = Date.now();
    const w = await http('PUT', '/live/ping', { at: t0 });
    assert.strictEqual(w.status, 201);
    const when = await withTimeout(seen, 1000, 'live change within 1 s');
    const doc = await db.get('ping');
    assert.strictEqual(doc.at, t0);
    console.log(`live sync latency: ${when - t0} ms`);
    // and a local write goes up as well
    await db.put({ _id: 'pong' });
    const deadline = Date.now() + 5000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await http('GET', '/live/pong')).status;
      if (status === 200) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.strictEqual(status, 200);
  } finally {
    // Wait for the sync to wind down (its last checkpoint request included)
    // before the server is stopped at the end of the run.
    if (feed) feed.cancel();
    sync.cancel();
    await withTimeout(done, 10000, 'sync cancelled').catch(() => {});
  }
});

// ---- pouchdb-find: the same queries on settee and on PouchDB itself

const PEOPLE = [
  { _id: 'alice', name: 'alice', age: 31, team: 'red', tags: ['a', 'b'] },
  { _id: 'bob', name: 'bob', age: 25, team: 'blue', tags: ['b'] },
  { _id: 'carol', name: 'carol', age: 40, team: 'red' },
  { _id: 'dave', name: 'dave', age: 19, team: 'green', tags: [] },
  { _id: 'erin', name: 'erin', age: 52, team: 'blue', tags: ['c'] },
  { _id: 'frank', name: 'frank', team: 'red' },
];

const QUERIES = [
  { selector: { age: { $gt: 20 } }, sort: ['age'], fields: ['_id', 'age'] },
  { selector: { age: { $gte: 19, $lt: 41 } }, sort: [{ age: 'desc' }], fields: ['_id'] },
  { selector: { team: 'red', age: { $gt: 0 } }, sort: ['team', 'age'], fields: ['_id', 'name'] },
  { selector: { tags: { $elemMatch: { $eq: 'b' } } }, fields: ['_id'] },
  { selector: { name: { $regex: '^[a-c]' } }, fields: ['_id'] },
  { selector: { $or: [{ team: 'green' }, { age: { $gt: 50 } }] }, fields: ['_id', 'team'] },
  { selector: { age: { $exists: false } }, fields: ['_id'] },
  { selector: { age: { $gt: 20 } }, sort: ['age'], limit: 2, skip: 1, fields: ['_id'] },
];

function ids(res) { return res.docs.map((d) => d._id); }

test('pouchdb-find: indexes and queries on settee answer as PouchDB does', async () => {
  const srv = remote('findq');
  const mine = local();
  await srv.bulkDocs(PEOPLE);
  await mine.bulkDocs(PEOPLE);
  for (const db of [srv, mine]) {
    const made = await db.createIndex({ index: { fields: ['age'] } });
    assert.strictEqual(made.result, 'created');
    const again = await db.createIndex({ index: { fields: ['age'] } });
    assert.strictEqual(again.result, 'exists');
    await db.createIndex({ index: { fields: ['team', 'age'] }, ddoc: 'byteam', name: 'team-age' });
  }
  for (const q of QUERIES) {
    const [a, b] = await Promise.all([srv.find(q), mine.find(q)]);
    const sa = q.sort ? ids(a) : ids(a).sort();
    const sb = q.sort ? ids(b) : ids(b).sort();
    assert.deepStrictEqual(sa, sb, JSON.stringify(q));
    if (q.fields) assert.deepStrictEqual(a.docs.map((d) => Object.keys(d).sort()),
                                         b.docs.map((d) => Object.keys(d).sort()), 'fields');
  }
  const list = await srv.getIndexes();
  assert.strictEqual(list.total_rows, 3);
  assert.strictEqual(list.indexes[0].name, '_all_docs');
  const named = list.indexes.find((i) => i.name === 'team-age');
  assert.deepStrictEqual(named.def.fields, [{ team: 'asc' }, { age: 'asc' }]);
  const ex = await srv.explain({ selector: { team: 'red', age: { $gt: 0 } } });
  assert.strictEqual(ex.index.name, 'team-age');
  // No index for the sort: settee says so, as CouchDB does.
  await assert.rejects(srv.find({ selector: { name: 'bob' }, sort: ['name'] }),
                       (e) => e.status === 400 && e.error === 'no_usable_index');
  // Writes keep the index current.
  await srv.put({ _id: 'gina', name: 'gina', age: 20, team: 'red' });
  const young = await srv.find({ selector: { age: { $lt: 21 } }, sort: ['age'], fields: ['_id'] });
  assert.deepStrictEqual(ids(young), ['dave', 'gina']);
  await srv.deleteIndex(named);
  const after = await srv.getIndexes();
  assert.strictEqual(after.total_rows, 2);
});

test('selector replication with PouchDB, both ways', async () => {
  const srv = remote('findrepl');
  await srv.bulkDocs(PEOPLE);
  const down = local();
  const r = await withTimeout(down.replicate.from(srv, { selector: { team: 'red' } }), 20000,
                              'selector pull');
  assert.strictEqual(r.ok, true);
  const got = await down.allDocs();
  assert.deepStrictEqual(got.rows.map((x) => x.id).sort(), ['alice', 'carol', 'frank']);
  const up = local();
  await up.bulkDocs([{ _id: 'x1', keep: true }, { _id: 'x2', keep: false }, { _id: 'x3', keep: true }]);
  const w = await withTimeout(up.replicate.to(remote('findrepl2'), { selector: { keep: true } }),
                              20000, 'selector push');
  assert.strictEqual(w.docs_written, 2);
  const all = await http('GET', '/findrepl2/_all_docs');
  assert.deepStrictEqual(all.json.rows.map((x) => x.id), ['x1', 'x3']);
  // PouchDB's filtered changes against settee.
  const ch = await srv.changes({ filter: '_selector', selector: { team: 'blue' } });
  assert.deepStrictEqual(ch.results.map((x) => x.id).sort(), ['bob', 'erin']);
});
