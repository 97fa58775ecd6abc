// Every shell example of the README and docs/ runs as written, in a fresh folder with fixtures/
// beside it, a fresh CARS_HOME and a fresh database (the embedded one for `cars db ...` examples),
// and prints what the document shows (see test/support/examples.ts for what is masked).
// `npx cars` runs this checkout's bin/cars.js, as npx would after `npm install`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT, tempDir, tempHome } from '../support/cli.js';
import { freshDatabase, servers } from '../support/db.js';
import { examplesOf, mask, type Example } from '../support/examples.js';

const docs = ['README.md', ...fs.readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const examples: Example[] = docs.flatMap((f) => examplesOf(f, fs.readFileSync(path.join(ROOT, f), 'utf8')));
const cleanup: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

const PRELUDE = `set -o pipefail; npx() { if [ "$1" = cars ]; then shift; node "${path.join(ROOT, 'bin', 'cars.js')}" "$@"; else command npx "$@"; fi; }; `;

interface StepResult {
  code: number | null;
  output: string;
}

/** One command through bash, stdout and stderr in the order printed; its process group is kept to be ended later. */
function step(command: string, cwd: string, env: Record<string, string>, groups: number[]): Promise<StepResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `${PRELUDE}{ ${command}\n} 2>&1`], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    groups.push(child.pid!);
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 90_000);
    child.on('error', reject);
    // On exit, not on close: a server the example started in the background keeps the pipe open.
    child.on('exit', (code) => {
      clearTimeout(timer);
      setTimeout(() => resolve({ code, output }), 100);
    });
  });
}

/** Expected lines (masked) against what was printed (masked); `...` stands for any lines. */
function matches(expected: string[], actual: string[]): boolean {
  const exp = expected.map(mask);
  const act = actual.map(mask).filter((l) => l !== '');
  const go = (i: number, j: number): boolean => {
    if (i === exp.length) return j === act.length;
    if (exp[i] === '...') {
      for (let k = j; k <= act.length; k++) if (go(i + 1, k)) return true;
      return false;
    }
    if (exp[i] === '') return go(i + 1, j);
    return j < act.length && exp[i] === act[j] && go(i + 1, j + 1);
  };
  return go(0, 0);
}

describe('the examples of the README and docs/', () => {
  it('finds them', () => {
    expect(examples.length).toBeGreaterThan(10);
  });

  it.each(examples.map((e) => [`${e.file}:${e.line}`, e] as const))('%s', async (_where, ex) => {
    const cwd = tempDir('cars-example-');
    fs.symlinkSync(path.join(ROOT, 'fixtures'), path.join(cwd, 'fixtures'));
    const home = tempHome('cars-example-home-');
    const env: Record<string, string> = { CARS_HOME: home, NO_COLOR: '1' };
    const embedded = ex.steps.some((s) => /\bcars db\b/.test(s.command));
    if (!embedded) {
      const db = await freshDatabase(servers()[0]);
      env.DATABASE_URL = db.url;
      cleanup.push(db.drop);
    }
    const groups: number[] = [];
    try {
      for (const s of ex.steps) {
        // The Quickstart's install step is what made this checkout; its `npm test` is what runs this.
        if (s.command === 'npm test') {
          expect(JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).scripts.test).toMatch(/vitest run/);
          continue;
        }
        const command = s.command.replace(/^npm install && /, '');
        const r = await step(command, cwd, env, groups);
        expect(r.code, `${ex.file}:${ex.line}: \`${s.command}\` exited ${r.code}:\n${r.output}`).toBe(s.exit);
        if (s.expected) {
          const actual = r.output.replace(/\n$/, '').split('\n');
          expect(matches(s.expected, actual), `${ex.file}:${ex.line}: \`${s.command}\` printed (masked):\n${actual.map(mask).join('\n')}\n--- the document shows (masked):\n${s.expected.map(mask).join('\n')}`).toBe(true);
        }
      }
    } finally {
      for (const g of groups) {
        try {
          process.kill(-g, 'SIGTERM');
        } catch {
          // (already gone)
        }
      }
      if (embedded) await step('npx cars db stop --quiet', cwd, env, []);
      fs.rmSync(cwd, { recursive: true, force: true });
      fs.rmSync(home, { recursive: true, force: true });
    }
  }, 120_000);
});
