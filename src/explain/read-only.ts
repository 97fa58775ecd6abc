// `cars explain --sql`: is this text one query that only reads? A courtesy check with a clear
// message; the real guards are the server's: the READ ONLY transaction, rolled back, and the
// reader role the query runs as. One thing here is a guard of its own: the server lets a query
// leave the role (set_config('role', ...) is checked against the session's user, not the role),
// so functions that change a setting, or run SQL given as text, are refused by name.
// Pure.

/**
 * The text with comments removed and every string literal, dollar-quoted body and quoted
 * identifier replaced by a placeholder, so keywords and semicolons inside them do not count.
 */
export function stripLiterals(text: string, quoted: Array<string | null> = []): string {
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
      const start = ++i;
      while (i < n) {
        if (text[i] === '"' && text[i + 1] === '"') i += 2;
        else if (text[i] === '"') break;
        else i++;
      }
      // U&"d\0061ta" spells its name with escapes: kept as null, unread.
      quoted.push(text[start - 2] === '&' && /u/i.test(text[start - 3] ?? '') ? null : text.slice(start, i).replace(/""/g, '"'));
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

// set_config changes a setting, the role among them; the others run SQL given as text, which can
// call set_config where no check of this text sees it.
const ESCAPES = ['set_config', 'query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema', 'cursor_to_xml', 'cursor_to_xmlschema', 'ts_stat', 'ts_rewrite'];

/** Why `text` is not a single read-only query, or null when it is one. */
export function readQueryProblem(text: string): string | null {
  const quoted: Array<string | null> = [];
  const bare = stripLiterals(text, quoted).trim().replace(/[;\s]+$/, '');
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
  if (quoted.includes(null)) return 'spells a quoted name with Unicode escapes (U&"..."); write the name plainly';
  const named = [...words, ...quoted.map((q) => (q as string).toLowerCase())];
  const escape = ESCAPES.find((f) => named.includes(f));
  if (escape) return `calls ${escape}(), which could change the role or run other SQL; give a query without it`;
  return null;
}
