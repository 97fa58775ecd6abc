// `cars explain --sql`: is this text one query that only reads? A courtesy check with a clear
// message; the real guard is the READ ONLY transaction, rolled back, that the query runs in.
// Pure.

/**
 * The text with comments removed and every string literal, dollar-quoted body and quoted
 * identifier replaced by a placeholder, so keywords and semicolons inside them do not count.
 */
export function stripLiterals(text: string): string {
  let out = '';
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '-' && next === '-') {
      const end = text.indexOf('\n', i);
      i = end < 0 ? n : end;
      out += ' ';
    } else if (c === '/' && next === '*') {
      // Block comments nest in PostgreSQL.
      let depth = 1;
      i += 2;
      while (i < n && depth > 0) {
        if (text[i] === '/' && text[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (text[i] === '*' && text[i + 1] === '/') {
          depth--;
          i += 2;
        } else i++;
      }
      out += ' ';
    } else if (c === "'" || ((c === 'E' || c === 'e') && next === "'" && !/[\w$]/.test(text[i - 1] ?? ''))) {
      const backslashes = c !== "'";
      i += backslashes ? 2 : 1;
      while (i < n) {
        if (backslashes && text[i] === '\\') i += 2;
        else if (text[i] === "'" && text[i + 1] === "'") i += 2;
        else if (text[i] === "'") break;
        else i++;
      }
      i++;
      out += "''";
    } else if (c === '"') {
      i++;
      while (i < n) {
        if (text[i] === '"' && text[i + 1] === '"') i += 2;
        else if (text[i] === '"') break;
        else i++;
      }
      i++;
      out += '"x"';
    } else if (c === '$' && !/[\w$]/.test(text[i - 1] ?? '')) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i));
      if (!tag) {
        out += c;
        i++;
        continue;
      }
      const close = text.indexOf(tag[0], i + tag[0].length);
      i = close < 0 ? n : close + tag[0].length;
      out += "''";
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const READ_STARTS = ['select', 'with', 'values', 'table'];
// Inside a query that starts like a read, only these make it write (a data-modifying WITH);
// other statements cannot appear inside a query at all.
const WRITES = ['insert', 'update', 'delete', 'merge'];

/** Why `text` is not a single read-only query, or null when it is one. */
export function readQueryProblem(text: string): string | null {
  const bare = stripLiterals(text).trim().replace(/[;\s]+$/, '');
  if (!bare) return 'is empty; give one SELECT, WITH, VALUES or TABLE query';
  if (bare.includes(';')) return 'holds more than one statement; give exactly one query';
  const words = bare.toLowerCase().match(/[a-z_][a-z0-9_$]*/g) ?? [];
  const first = words[0] ?? '';
  if (!READ_STARTS.includes(first)) return `starts with ${first.toUpperCase() || bare.slice(0, 10)}; only a SELECT, WITH, VALUES or TABLE query is explained`;
  for (let k = 0; k < words.length; k++) {
    const w = words[k];
    if (w === 'for' && ['update', 'share', 'no', 'key'].includes(words[k + 1] ?? '')) return 'locks rows (FOR UPDATE/SHARE); give a query that only reads';
    if (w === 'into') return 'writes its result into a table (INTO); give a query that only reads';
    if (WRITES.includes(w)) return `contains ${w.toUpperCase()}; give a query that only reads (no data-modifying WITH)`;
  }
  return null;
}
