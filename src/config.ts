// cars.toml: settings an operator would otherwise repeat on every command line. Global options at
// the top, a table per command (`[import]`, `[sync-prices]`, ...). Keys are option names, with
// `_` or `-` (`batch_size`, `batch-size`). Precedence: flags, then the environment, then the file,
// then the defaults (cli.ts applies it). Pure: the caller reads the file and hands the text in.
import { parse, TomlError } from 'smol-toml';
import { CarsError } from './errors.js';

export type ConfigValue = string | number | boolean | string[];

export interface ConfigEntry {
  value: ConfigValue;
  /** Where it was written: "cars.toml:12". */
  where: string;
}

export interface Config {
  file: string;
  /** Option name in camelCase (as commander names it) -> entry; `global` for the top level. */
  tables: Map<string, Map<string, ConfigEntry>>;
}

/** `batch_size` / `batch-size` -> `batchSize`. */
export function optionKey(key: string): string {
  return key.replace(/[-_]+([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The line each key is written on, per table, from the text (smol-toml gives values, not places). */
function keyLines(text: string): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>([['global', new Map()]]);
  let table = 'global';
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    const t = /^\[\s*"?([^"\]]+?)"?\s*\]/.exec(line);
    if (t) {
      table = t[1].trim();
      if (!out.has(table)) out.set(table, new Map());
      return;
    }
    const k = /^("?)([A-Za-z0-9_-]+)\1\s*=/.exec(line);
    if (k) out.get(table)!.set(k[2], i + 1);
  });
  return out;
}

/**
 * Parses a config file. `known` lists, per table ('global' and each command name), the option
 * names (camelCase) it may set; anything else is an error naming the file and line.
 */
export function parseConfig(file: string, text: string, known: ReadonlyMap<string, ReadonlySet<string>>): Config {
  let doc: Record<string, unknown>;
  try {
    doc = parse(text) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof TomlError) throw new CarsError('USAGE', `${file}:${e.line}: not valid TOML: ${e.message.split('\n')[0].replace(/^Invalid TOML document: /, '')}`);
    throw e;
  }
  const lines = keyLines(text);
  const at = (table: string, key: string) => `${file}:${lines.get(table)?.get(key) ?? 1}`;
  const tables = new Map<string, Map<string, ConfigEntry>>([['global', new Map()]]);
  const take = (table: string, key: string, v: unknown) => {
    const name = optionKey(key);
    const where = at(table, key);
    if (!known.get(table)?.has(name)) {
      const options = [...(known.get(table) ?? [])].map((n) => n.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));
      throw new CarsError('USAGE', `${where}: unknown setting "${key}"${table === 'global' ? '' : ` in [${table}]`}; known: ${options.join(', ')}`);
    }
    const ok = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    if (!ok) throw new CarsError('USAGE', `${where}: "${key}" must be a string, a number, true/false or a list of strings`);
    if (!tables.has(table)) tables.set(table, new Map());
    tables.get(table)!.set(name, { value: v as ConfigValue, where });
  };
  for (const [key, v] of Object.entries(doc)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)) {
      if (!known.has(key) || key === 'global') {
        throw new CarsError('USAGE', `${file}:${lines.has(key) ? findTable(text, key) : 1}: unknown table [${key}]; the tables are ${[...known.keys()].filter((k) => k !== 'global').map((k) => `[${k}]`).join(', ')}`);
      }
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) take(key, k, x);
    } else {
      take('global', key, v);
    }
  }
  return { file, tables };
}

function findTable(text: string, table: string): number {
  const i = text.split(/\r?\n/).findIndex((l) => new RegExp(`^\\s*\\[\\s*"?${table.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"?\\s*\\]`).test(l));
  return i + 1 || 1;
}
