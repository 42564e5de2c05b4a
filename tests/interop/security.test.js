// Users, sessions and per-user databases with real clients: PouchDB (node,
// in-memory adapter) and nano, against `settee serve` with CouchDB's
// defaults (new databases admin-only), _users opened for sign-up
// (users_db_security_editable + a public _security) and couch_peruser.
//
// PouchDB signs up (and is created by an admin), logs in with a cookie
// (POST /_session, then every request carries it through PouchDB's `fetch`
// option), syncs a members-only database and its own userdb-<hex> both
// ways, and is refused without credentials (401) and on another user's
// database (403).  nano does the same through nano.auth and its cookie jar.
// Only 127.0.0.1; every wait is bounded.
'use strict';

const test = require('node:test');
const assert = require('node:assert');
const Nano = require('nano');
const PouchDB = require('pouchdb-core')
  .plugin(require('pouchdb-adapter-memory'))
  .plugin(require('pouchdb-adapter-http'))
  .plugin(require('pouchdb-replication'));
const { start, stop, until, withTimeout } = require('./settee_server.js');

const ADMIN = ['admin', 'interop-admin-pw'];
const ADMIN_AUTH = 'Basic ' + Buffer.from(ADMIN.join(':')).toString('base64');
const INI = `[couchdb]
users_db_security_editable = true
[couch_peruser]
enable = true
[chttpd_auth]
iterations = 10000
`;

let srv;
let counter = 0;

function userdb(name) {
  return 'userdb-' + Buffer.from(name, 'utf8').toString('hex');
}

// A plain HTTP call with Node's own fetch (no cookie jar shared with PouchDB).
async function http(method, p, body, headers = {}) {
  const h = { Accept: 'application/json', ...headers };
  if (body !== undefined) h['Content-Type'] = 'application/json';
  const res = await withTimeout(fetch(srv.base + p, {
    method, headers: h, body: body === undefined ? undefined : JSON.stringify(body),
  }), 10000, `${method} ${p}`);
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null, headers: res.headers };
}

const admin = (method, p, body) => http(method, p, body, { Authorization: ADMIN_AUTH });

// POST /_session → the AuthSession cookie.
async function login(name, password) {
  const r = await http('POST', '/_session', { name, password });
  assert.strictEqual(r.status, 200, `login ${name}: ${JSON.stringify(r.json)}`);
  assert.deepStrictEqual(r.json, { ok: true, name, roles: [] });
  const sc = r.headers.get('set-cookie');
  assert.match(sc, /^AuthSession=[^;]+; Version=1; Expires=.*; Max-Age=600; Path=\/; HttpOnly/);
  return sc.split(';')[0];
}

// A remote PouchDB whose every request carries the session cookie, kept
// fresh from the server's Set-Cookie (CouchDB's refresh rule).
function withCookie(url, session) {
  return new PouchDB(url, {
    fetch(u, opts) {
      const headers = new Headers();
      for (const [k, v] of opts.headers) headers.set(k, v);
      headers.set('Cookie', session.cookie);
      return fetch(u, { ...opts, headers }).then((res) => {
        const sc = res.headers.get('set-cookie');
        if (sc && sc.startsWith('AuthSession=') && !sc.startsWith('AuthSession=;'))
          session.cookie = sc.split(';')[0];
        return res;
      });
    },
  });
}

// A remote PouchDB without credentials (Node's fetch, no cookie jar).
function anonymous(url) {
  return new PouchDB(url, { fetch: (u, opts) => fetch(u, { ...opts, headers: new Headers([...opts.headers]) }) });
}

function local() {
  return new PouchDB(`sec-local-${process.pid}-${++counter}`, { adapter: 'memory' });
}

async function allIds(db) {
  const r = await db.allDocs();
  return r.rows.map((row) => row.id).filter((id) => !id.startsWith('_design/')).sort();
}

async function rejects(promise, status, what) {
  await assert.rejects(withTimeout(promise, 10000, what), (err) => {
    assert.strictEqual(err.status, status, `${what}: ${JSON.stringify(err)}`);
    return true;
  }, what);
}

test.before(async () => {
  srv = await start({ ini: INI, admin: ADMIN });
  // Open _users for sign-up, as docs/operations.md shows.
  let r = await admin('PUT', '/_users/_security', { admins: { roles: ['_admin'] }, members: {} });
  assert.strictEqual(r.status, 200);
  // A members-only database for the team.
  r = await admin('PUT', '/team');
  assert.strictEqual(r.status, 201);
  r = await admin('PUT', '/team/_security', { members: { names: ['pam', 'nina'] } });
  assert.strictEqual(r.status, 200);
  await admin('PUT', '/team/seed', { from: 'admin' });
});

test.after(() => stop(srv));

test('PouchDB: sign-up, cookie login, members-only and per-user sync, refusals', async () => {
  // Sign-up through PouchDB, anonymous, into the opened _users.
  const users = anonymous(`${srv.base}/_users`);
  const put = await users.put({ _id: 'org.couchdb.user:pam', name: 'pam', password: 'pam-pw', roles: [], type: 'user' });
  assert.strictEqual(put.ok, true);
  await rejects(users.put({ _id: 'org.couchdb.user:pam', name: 'pam', password: 'x', roles: [], type: 'user' }), 409, 'name taken');
  // Another user, made by the admin through PouchDB.
  const adminUsers = new PouchDB(`${srv.base}/_users`, { auth: { username: ADMIN[0], password: ADMIN[1] } });
  await adminUsers.put({ _id: 'org.couchdb.user:ned', name: 'ned', password: 'ned-pw', roles: [], type: 'user' });

  const session = { cookie: await login('pam', 'pam-pw') };
  const who = await http('GET', '/_session', undefined, { Cookie: session.cookie });
  assert.strictEqual(who.json.userCtx.name, 'pam');
  assert.strictEqual(who.json.info.authenticated, 'cookie');

  // The members-only database, both ways.
  const team = withCookie(`${srv.base}/team`, session);
  const mine = local();
  await mine.bulkDocs([{ _id: 'pam-1', n: 1 }, { _id: 'pam-2', n: 2 }]);
  const res = await withTimeout(mine.sync(team), 20000, 'sync team');
  assert.strictEqual(res.push.ok, true);
  assert.strictEqual(res.pull.ok, true);
  assert.deepStrictEqual(await allIds(mine), ['pam-1', 'pam-2', 'seed']);
  const onServer = await admin('GET', '/team/_all_docs');
  assert.deepStrictEqual(onServer.json.rows.map((r) => r.id).sort(), ['pam-1', 'pam-2', 'seed']);
  // Her own database, made by couch_peruser: she is its member and admin.
  let own;
  await until(async () => (await admin('GET', `/${userdb('pam')}`)).status === 200, 10000, 'userdb of pam');
  const sec = await admin('GET', `/${userdb('pam')}/_security`);
  assert.deepStrictEqual(sec.json, { members: { roles: ['_admin'], names: ['pam'] }, admins: { roles: ['_admin'], names: ['pam'] } });
  own = withCookie(`${srv.base}/${userdb('pam')}`, session);
  const priv = local();
  await priv.put({ _id: 'diary', text: 'private' });
  await priv.put({ _id: '_design/app', views: {} }); // the owner may write design docs
  await withTimeout(priv.replicate.to(own), 20000, 'push userdb');
  await own.put({ _id: 'from-server', n: 3 });
  await withTimeout(priv.replicate.from(own), 20000, 'pull userdb');
  assert.deepStrictEqual(await allIds(priv), ['diary', 'from-server']);
  const ownInfo = await own.info();
  assert.strictEqual(ownInfo.doc_count, 3);

  // Refused: no credentials (401), someone else's database (403).
  await rejects(anonymous(`${srv.base}/team`).info(), 401, 'team anonymous');
  await rejects(anonymous(`${srv.base}/${userdb('pam')}`).allDocs(), 401, 'userdb anonymous');
  const anonSync = await withTimeout(local().replicate.from(anonymous(`${srv.base}/team`)).catch((e) => e), 20000, 'anonymous replication');
  assert.strictEqual(anonSync.status, 401);
  await until(async () => (await admin('GET', `/${userdb('ned')}`)).status === 200, 10000, 'userdb of ned');
  const nedDb = withCookie(`${srv.base}/${userdb('ned')}`, session);
  await rejects(nedDb.info(), 403, "ned's userdb as pam");
  await rejects(nedDb.put({ _id: 'intrusion' }), 403, "write ned's userdb as pam");
  const nedSync = await withTimeout(local().replicate.from(nedDb).catch((e) => e), 20000, "replicate ned's userdb as pam");
  assert.strictEqual(nedSync.status, 403);
  // Her own user document, not ned's.
  const pamUsers = withCookie(`${srv.base}/_users`, session);
  const pamDoc = await pamUsers.get('org.couchdb.user:pam');
  assert.ok(pamDoc.derived_key && pamDoc.salt && !pamDoc.password);
  await rejects(pamUsers.get('org.couchdb.user:ned'), 404, "ned's user document as pam");

  // Logged out: the cookie cleared, the team refused again.
  const out = await http('DELETE', '/_session', undefined, { Cookie: session.cookie });
  assert.strictEqual(out.status, 200);
  assert.match(out.headers.get('set-cookie'), /^AuthSession=;/);
  await rejects(anonymous(`${srv.base}/team`).allDocs(), 401, 'team after logout');
});

test('nano: sign-up, nano.auth cookie session, members-only and per-user databases, refusals', async () => {
  // Sign-up, anonymous.
  const anon = Nano({ url: srv.base });
  const signup = await anon.db.use('_users').insert({ name: 'nina', password: 'nina-pw', roles: [], type: 'user' }, 'org.couchdb.user:nina');
  assert.strictEqual(signup.ok, true);
  await assert.rejects(anon.db.use('team').list(), (e) => e.statusCode === 401);
  await assert.rejects(anon.db.use('_users').insert({ name: 'nina', password: 'x', roles: [], type: 'user' }, 'org.couchdb.user:nina'), (e) => e.statusCode === 409);

  // nano.auth: POST /_session; nano keeps the cookie for its later calls.
  const nina = Nano({ url: srv.base });
  const auth = await nina.auth('nina', 'nina-pw');
  assert.strictEqual(auth.ok, true);
  assert.strictEqual(auth.name, 'nina');
  const sess = await nina.session();
  assert.strictEqual(sess.userCtx.name, 'nina');
  assert.strictEqual(sess.info.authenticated, 'cookie');

  const team = nina.db.use('team');
  const ins = await team.insert({ by: 'nina' }, 'nina-1');
  assert.strictEqual(ins.ok, true);
  const list = await team.list();
  assert.ok(list.rows.some((r) => r.id === 'nina-1'));
  const changes = await team.changes({ since: 0 });
  assert.ok(changes.results.some((r) => r.id === 'seed'));

  await until(async () => (await admin('GET', `/${userdb('nina')}`)).status === 200, 10000, 'userdb of nina');
  const own = nina.db.use(userdb('nina'));
  await own.insert({ secret: true }, 'mine');
  assert.strictEqual((await own.get('mine')).secret, true);
  assert.strictEqual((await own.info()).doc_count, 1);

  // Refusals: someone else's database (403), server-admin business (401).
  await assert.rejects(nina.db.use(userdb('pam')).info(), (e) => e.statusCode === 403 && e.error === 'forbidden');
  await assert.rejects(nina.db.use(userdb('pam')).insert({ x: 1 }, 'x'), (e) => e.statusCode === 403);
  await assert.rejects(nina.db.create('nina-db'), (e) => e.statusCode === 401);
  await assert.rejects(nina.db.list(), (e) => e.statusCode === 401);
  // Her own user document, and roles stay the admin's.
  const doc = await nina.db.use('_users').get('org.couchdb.user:nina');
  doc.roles = ['boss'];
  await assert.rejects(nina.db.use('_users').insert(doc), (e) => e.statusCode === 403 && e.reason === 'Only _admin may edit roles');
  // A changed password ends the session.
  doc.roles = [];
  doc.password = 'nina-pw2';
  await nina.db.use('_users').insert(doc);
  const after = await nina.session();
  assert.strictEqual(after.userCtx.name, null);
  await assert.rejects(team.list(), (e) => e.statusCode === 401);
  const again = await nina.auth('nina', 'nina-pw2');
  assert.strictEqual(again.ok, true);
  assert.ok((await team.list()).rows.length >= 1);
  await assert.rejects(Nano({ url: srv.base }).auth('nina', 'nina-pw'), (e) => e.statusCode === 401);
});
