// The embedded default and `cars db`, through the real binary.
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { cars, tempHome } from '../support/cli.js';
import { freshDatabase, servers } from '../support/db.js';
import { alive } from '../../src/db/embedded.js';

const homes: string[] = [];
function home() {
  const h = tempHome();
  homes.push(h);
  return h;
}
afterAll(async () => {
  for (const h of homes) {
    // Stop anything a test left running, then remove the folder.
    await cars(['db', 'stop'], { env: { CARS_HOME: h } });
    fs.rmSync(h, { recursive: true, force: true });
  }
});

/** The pid of the server running in this home, or null (a zombie is not running). */
function pgRunning(h: string): number | null {
  const pidFile = path.join(h, 'pg', 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return null;
  const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  return alive(pid) ? pid : null;
}

describe('embedded PostgreSQL', () => {
  it('db status starts the server, reports 18 and the data directory, and stops it again', async () => {
    const h = home();
    const r = await cars(['db', 'status'], { env: { CARS_HOME: h } });
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    // The status is data: on stdout, and it names the socket the server listens on.
    expect(r.stdout).toMatch(/server:\s+PostgreSQL 18\.\d+ \(embedded\)/);
    expect(r.stdout).toContain(`data directory:  ${path.join(h, 'pg')}`);
    expect(r.stdout).toContain(`target:          postgresql://postgres@/cars?host=${path.join(h, 'pg')} (embedded)`);
    expect(pgRunning(h)).toBeNull();
  });

  it('db migrate applies everything once, then nothing; status lists the migrations and counts', async () => {
    const h = home();
    const first = await cars(['db', 'migrate', '--json'], { env: { CARS_HOME: h } });
    expect(first.code).toBe(0);
    const s1 = JSON.parse(first.stdout);
    expect(s1.applied).toContain('001_schema');
    const second = await cars(['db', 'migrate', '--json'], { env: { CARS_HOME: h } });
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout).applied).toEqual([]);
    const human = await cars(['db', 'migrate'], { env: { CARS_HOME: h } });
    expect(human.stderr).toMatch(/nothing to apply/);
    const st = await cars(['db', 'status', '--json'], { env: { CARS_HOME: h } });
    const status = JSON.parse(st.stdout);
    expect(status.applied_migrations).toContain('001_schema');
    expect(status.pending_migrations).toEqual([]);
    expect(status.row_counts).toMatchObject({ cars: 0, car_price_history: 0 });
    expect(status.server_version).toMatch(/^18\./);
  });

  it('db start keeps it up across commands until db stop', async () => {
    const h = home();
    const started = await cars(['db', 'start'], { env: { CARS_HOME: h } });
    expect(started.code).toBe(0);
    expect(started.stderr).toMatch(/started/);
    const pid = pgRunning(h);
    expect(pid).not.toBeNull();
    const again = await cars(['db', 'start'], { env: { CARS_HOME: h } });
    expect(again.stderr).toMatch(/already running/);
    expect((await cars(['db', 'status'], { env: { CARS_HOME: h } })).code).toBe(0);
    expect(pgRunning(h)).toBe(pid); // a command does not stop a server it did not start
    const stopped = await cars(['db', 'stop'], { env: { CARS_HOME: h } });
    expect(stopped.code).toBe(0);
    expect(pgRunning(h)).toBeNull();
  });

  it('two processes at once on one CARS_HOME both work and leave no server behind', async () => {
    const h = home();
    const runs = await Promise.all([1, 2, 3].map(() => cars(['db', 'migrate', '--json'], { env: { CARS_HOME: h } })));
    for (const r of runs) expect(r.code, r.stderr).toBe(0);
    const applied = runs.flatMap((r) => JSON.parse(r.stdout).applied as string[]);
    expect(applied.filter((m) => m === '001_schema')).toHaveLength(1); // applied exactly once
    expect(pgRunning(h)).toBeNull();
  });

  it('recovers from a postmaster.pid left behind, even when its pid now belongs to another program', async () => {
    const h = home();
    expect((await cars(['db', 'start'], { env: { CARS_HOME: h } })).code).toBe(0);
    const pid = pgRunning(h)!;
    process.kill(pid, 'SIGKILL'); // a crash: the server dies, its pid file stays
    await new Promise((r) => setTimeout(r, 500));
    const pidFile = path.join(h, 'pg', 'postmaster.pid');
    expect(fs.existsSync(pidFile)).toBe(true);
    // Make it worse: the pid in the file is now a live process that is not PostgreSQL.
    const sleeper = spawn('sleep', ['30']);
    const lines = fs.readFileSync(pidFile, 'utf8').split('\n');
    lines[0] = String(sleeper.pid);
    fs.writeFileSync(pidFile, lines.join('\n'));
    try {
      const r = await cars(['db', 'status'], { env: { CARS_HOME: h } });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/PostgreSQL 18/);
    } finally {
      sleeper.kill();
    }
  });

  it("an import's default rejects file is named after the embedded database (cars), its hash and the run", async () => {
    const h = home();
    const r = await cars(['import', 'fixtures/cars.csv', '--json', '--no-progress'], { env: { CARS_HOME: h } });
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.rows).toMatchObject({ inserted: 1000, rejected: 7 });
    expect(path.dirname(s.rejects_file)).toBe(path.join(h, 'rejects'));
    expect(path.basename(s.rejects_file)).toMatch(/^cars-[0-9a-f]{8}-run1-cars\.rejects\.csv$/);
    expect(fs.readFileSync(s.rejects_file, 'utf8').trim().split('\n')).toHaveLength(1 + 7);
  });

  it('a command killed with SIGKILL leaves the server up; the next command uses it and stops it', async () => {
    const h = home();
    // Start one command and kill it hard while it holds the server.
    const big = Array.from({ length: 20000 }, (_, i) => `VIN${String(i).padStart(14, '0')}`).join('\n');
    const p = cars(['import', '-', '--no-progress'], {
      env: { CARS_HOME: h },
      input: 'vin,brand,model,year,price\n' + big,
      onSpawn: (child) => {
        const t = setInterval(() => {
          if (pgRunning(h) && fs.existsSync(path.join(h, 'run', 'users', String(child.pid)))) {
            clearInterval(t);
            child.kill('SIGKILL');
          }
        }, 20);
      },
    });
    const killed = await p;
    expect(killed.signal).toBe('SIGKILL');
    expect(pgRunning(h)).not.toBeNull();
    const r = await cars(['db', 'status'], { env: { CARS_HOME: h } });
    expect(r.code, r.stderr).toBe(0);
    expect(pgRunning(h)).toBeNull();
  });
});

describe.runIf(process.getuid?.() === 0)('as root', () => {
  it('a CARS_HOME the postgres user cannot enter moves the data to /var/lib/cars, said once on stderr', async () => {
    const h = fs.mkdtempSync('/tmp/cars-private-'); // 0700: postgres cannot enter it
    try {
      const r = await cars(['db', 'status'], { env: { CARS_HOME: h } });
      expect(r.code, r.stderr).toBe(0);
      const notes = r.stderr.split('\n').filter((l) => l.startsWith('note:'));
      expect(notes).toHaveLength(1);
      const dir = /lives in (\/var\/lib\/cars\/pg-[0-9a-f]{8})/.exec(notes[0])![1];
      expect(r.stdout).toContain(`data directory:  ${dir}`);
      expect(fs.existsSync(path.join(dir, 'PG_VERSION'))).toBe(true);
      // Said once per CARS_HOME: not on the next run (cron would mail it every night).
      const again = await cars(['db', 'path'], { env: { CARS_HOME: h } });
      expect(again.stderr).toBe('');
      expect(again.stdout).toContain(`data directory:  ${dir} (CARS_HOME is out of reach of the postgres user)`);
      const gone = await cars(['db', 'destroy', '--yes'], { env: { CARS_HOME: h } });
      expect(gone.code, gone.stderr).toBe(0);
      expect(gone.stdout).toContain(`removed ${dir}`);
      expect(fs.existsSync(dir)).toBe(false);
    } finally {
      fs.rmSync(h, { recursive: true, force: true });
    }
  });
});

describe.runIf(process.getuid?.() === 0)('as root, quietly', () => {
  it('--quiet never prints the note, and does not use up its one showing', async () => {
    const h = fs.mkdtempSync('/tmp/cars-private-');
    try {
      const quiet = await cars(['db', 'path', '--quiet'], { env: { CARS_HOME: h } });
      expect(quiet.code, quiet.stderr).toBe(0);
      expect(quiet.stderr).toBe('');
      const loud = await cars(['db', 'path'], { env: { CARS_HOME: h } });
      expect(loud.stderr).toMatch(/^note: the 'postgres' user cannot reach /);
      expect((await cars(['db', 'destroy', '--yes'], { env: { CARS_HOME: h } })).code).toBe(0);
    } finally {
      fs.rmSync(h, { recursive: true, force: true });
    }
  });
});

describe('cars db path, url, psql, destroy', () => {
  it('path and url say where the data is and how to reach it; destroy asks, or takes --yes, and removes it', async () => {
    const h = home();
    const p = await cars(['db', 'path', '--json'], { env: { CARS_HOME: h } });
    expect(p.code, p.stderr).toBe(0);
    const paths = JSON.parse(p.stdout);
    expect(paths).toMatchObject({ cars_home: h, data_directory: path.join(h, 'pg'), socket_directory: path.join(h, 'pg'), fallback: false, database_url: null });
    expect(fs.existsSync(path.join(paths.binaries, 'pg_ctl'))).toBe(true);
    const u = await cars(['db', 'url'], { env: { CARS_HOME: h } });
    expect(u.stdout).toBe(`postgresql://postgres@/cars?host=${path.join(h, 'pg')}\n`);
    // The URL works: psql through `cars db psql` (which starts the server for the session, migrated).
    const q = await cars(['db', 'psql', '--', '-At', '-c', 'select count(*) from cars'], { env: { CARS_HOME: h } });
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout).toBe('0\n');
    expect(pgRunning(h)).toBeNull();
    // No terminal to ask on and no --yes: refused, nothing removed.
    const refused = await cars(['db', 'destroy'], { env: { CARS_HOME: h } });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/pass --yes/);
    expect(fs.existsSync(path.join(h, 'pg', 'PG_VERSION'))).toBe(true);
    const r = await cars(['db', 'destroy', '--yes'], { env: { CARS_HOME: h } });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`removed ${path.join(h, 'pg')}\n`);
    expect(fs.existsSync(path.join(h, 'pg'))).toBe(false);
  });

  it('with DATABASE_URL: url shows it without the password, destroy refuses to touch it', async () => {
    const url = 'postgres://alice:s3cr3t-pw@db.example:5432/cars';
    const u = await cars(['db', 'url'], { env: { DATABASE_URL: url } });
    expect(u.stdout).toBe('postgres://alice@db.example:5432/cars\n');
    const d = await cars(['db', 'destroy', '--yes'], { env: { DATABASE_URL: url } });
    expect(d.code).toBe(2);
    expect(d.stderr + d.stdout).not.toContain('s3cr3t-pw');
  });
});

describe('DATABASE_URL', () => {
  it('refused connection: exit 5, one line naming the redacted target, no password', async () => {
    const url = 'postgres://alice:s3cr3t-pw@127.0.0.1:1/cars';
    const r = await cars(['db', 'status'], { env: { DATABASE_URL: url } });
    expect(r.code).toBe(5);
    expect(r.stderr + r.stdout).not.toContain('s3cr3t-pw');
    expect(r.stderr).toContain('postgres://alice@127.0.0.1:1/cars');
    expect(r.stderr).toMatch(/connection refused/);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it.each(servers())('wrong password and unknown database on $name: exit 5, no password', async (server) => {
    const u = new URL(server.admin);
    u.pathname = '/no_such_db_here';
    const unknown = await cars(['db', 'status'], { env: { DATABASE_URL: u.toString() } });
    expect(unknown.code).toBe(5);
    expect(unknown.stderr).toMatch(/no_such_db_here/);
    expect(unknown.stderr).toMatch(/database name/);
    if (u.password) expect(unknown.stderr).not.toContain(u.password);
    if (server.name === 'pg18') {
      const bad = new URL(server.admin);
      bad.password = 'wrong-pass-123';
      const r = await cars(['db', 'status'], { env: { DATABASE_URL: bad.toString() } });
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/authentication failed/);
      expect(r.stderr).not.toContain('wrong-pass-123');
    }
  });

  it('an invalid URL is a usage error (exit 2) that does not echo it', async () => {
    const r = await cars(['db', 'status'], { env: { DATABASE_URL: 'not a url:secret' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/DATABASE_URL is not a valid URL/);
    expect(r.stderr).not.toContain('secret');
  });

  it.each(servers())('migrations twice on $name: the second run applies nothing', async (server) => {
    const db = await freshDatabase(server);
    try {
      const a = await cars(['db', 'migrate', '--json'], { env: { DATABASE_URL: db.url } });
      expect(a.code, a.stderr).toBe(0);
      expect(JSON.parse(a.stdout).applied.length).toBeGreaterThan(0);
      const b = await cars(['db', 'migrate', '--json'], { env: { DATABASE_URL: db.url } });
      expect(JSON.parse(b.stdout).applied).toEqual([]);
    } finally {
      await db.drop();
    }
  });
});
