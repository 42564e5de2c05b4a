// settee_repl_peer.js — PouchDB's half of the replicator's interop tests
// (driven by tests/replicator/test_pouchdb.c, which starts `settee serve`,
// runs settee's own replications and calls this script for PouchDB's part).
// Uses the packages locked in this directory's package.json.  Talks only to
// the 127.0.0.1 URLs it is given; every wait is bounded.
//
//   node settee_repl_peer.js replicate SRC_URL TGT_URL
//       PouchDB.replicate(src, tgt) between two remote databases; prints
//       {"docs_read","docs_written","since":[since= of every _changes call]}
//       so the caller can tell whether PouchDB resumed from a checkpoint.
//   node settee_repl_peer.js edit URL
//       pull URL into an in-memory PouchDB, make conflicting edits, a
//       deletion and an attachment there, push back; prints {"ok":true}.
//   node settee_repl_peer.js dump URL
//       pull URL into a fresh in-memory PouchDB and print, per document,
//       its winner and every leaf (deleted ones too), one line each, sorted:
//       "id winner=REV leaves=REV,REV,…" — the revision trees as PouchDB
//       sees them after replicating, to compare with settee's copy.
'use strict';

const PouchDB = require('pouchdb-core')
  .plugin(require('pouchdb-adapter-memory'))
  .plugin(require('pouchdb-adapter-http'))
  .plugin(require('pouchdb-replication'));

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// A remote db whose requests are logged (URLs only).
function remote(url, log) {
  return new PouchDB(url, {
    skip_setup: true,
    fetch: (u, opts) => {
      if (log) log.push(String(u));
      return PouchDB.fetch(u, opts);
    },
  });
}

async function replicate(src, tgt) {
  const log = [];
  const res = await withTimeout(PouchDB.replicate(remote(src, log), remote(tgt, log)),
                                60000, 'replicate');
  const since = log.filter((u) => u.includes('/_changes'))
    .map((u) => new URL(u).searchParams.get('since'));
  return { docs_read: res.docs_read, docs_written: res.docs_written, since };
}

async function edit(url) {
  const db = new PouchDB('edit-' + Date.now(), { adapter: 'memory' });
  await withTimeout(db.replicate.from(remote(url)), 60000, 'pull');
  const all = await db.allDocs();
  // Conflicting edits on the docs named "c*", a deletion of "del-me",
  // and a new doc with an attachment.
  for (const row of all.rows) {
    if (row.id.startsWith('c')) {
      const doc = await db.get(row.id);
      doc.side = 'pouchdb';
      await db.put(doc);
    }
  }
  const victim = await db.get('del-me');
  await db.remove(victim);
  await db.put({
    _id: 'pouch-att',
    _attachments: { 'p.txt': { content_type: 'text/plain', data: Buffer.from('from pouchdb').toString('base64') } },
  });
  await withTimeout(db.replicate.to(remote(url)), 60000, 'push');
  return { ok: true };
}

async function dump(url) {
  const db = new PouchDB('dump-' + Date.now(), { adapter: 'memory' });
  await withTimeout(db.replicate.from(remote(url)), 60000, 'pull');
  // Every document, deleted ones included, through the changes feed.
  const ch = await db.changes({ style: 'all_docs' });
  const ids = ch.results.map((r) => r.id);
  // allDocs with keys names the winner even of a deleted document.
  const winners = new Map((await db.allDocs({ keys: ids })).rows.map((r) => [r.id, r.value.rev]));
  const lines = [];
  for (const id of ids) {
    const leaves = (await db.get(id, { open_revs: 'all' })).map((r) => r.ok._rev).sort();
    lines.push(`${id} winner=${winners.get(id)} leaves=${leaves.join(',')}`);
  }
  lines.sort();
  return lines.join('\n') + '\n';
}

(async () => {
  const [cmd, a, b] = process.argv.slice(2);
  let out;
  if (cmd === 'replicate') out = JSON.stringify(await replicate(a, b)) + '\n';
  else if (cmd === 'edit') out = JSON.stringify(await edit(a)) + '\n';
  else if (cmd === 'dump') out = await dump(a);
  else throw new Error('usage: settee_repl_peer.js replicate|edit|dump URL [URL]');
  process.stdout.write(out);
})().catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(1);
});
