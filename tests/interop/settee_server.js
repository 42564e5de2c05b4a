// Start and stop `settee serve` for an interop test: an ephemeral 127.0.0.1
// port, a scratch data directory, an optional ini file, stopped by PID.
// Every wait is bounded.
'use strict';

const assert = require('node:assert');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ini: text of a config file (or undefined); admin: [name, password].
async function start({ ini, admin }) {
  const bin = process.env.SETTEE_BIN;
  assert.ok(bin, 'SETTEE_BIN must name the settee binary');
  const tmpRoot = process.env.SETTEE_TEST_TMP || os.tmpdir();
  fs.mkdirSync(tmpRoot, { recursive: true });
  const dir = fs.mkdtempSync(path.join(tmpRoot, 'settee-interop-'));
  const args = ['serve', '--data', path.join(dir, 'data'), '--bind', '127.0.0.1', '--port', '0',
                '--admin', `${admin[0]}:${admin[1]}`, '--log-level', 'warning'];
  if (ini !== undefined) {
    fs.writeFileSync(path.join(dir, 'settee.ini'), ini, { mode: 0o600 });
    args.push('--config', path.join(dir, 'settee.ini'));
  }
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const base = await withTimeout(new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      out += chunk;
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`settee exited early (${code})`)));
  }), 10000, 'server start');
  return { child, base, dir };
}

async function stop(s) {
  if (!s || s.child.exitCode !== null) return;
  const exited = new Promise((resolve) => s.child.once('exit', resolve));
  s.child.kill('SIGTERM'); // our own child, by PID
  try {
    await withTimeout(exited, 10000, 'server stop');
  } catch (e) {
    s.child.kill('SIGKILL');
    throw e;
  }
  assert.strictEqual(s.child.exitCode, 0, 'settee exits 0 on SIGTERM');
  fs.rmSync(s.dir, { recursive: true, force: true });
}

// Poll fn() (async, truthy = done) every 50 ms for at most ms.
async function until(fn, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

module.exports = { start, stop, until, withTimeout };
