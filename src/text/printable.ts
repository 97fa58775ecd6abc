// Text that reaches the terminal: values from files, feeds and the database may hold control
// characters (an ESC sequence clears the screen or sets the window title, a CR overwrites the
// line, NUL and BEL do worse in some terminals), so every value shown is escaped here first.
// Pure.

/** How long a value from the input may be in a message, in characters, before it is cut. */
export const VALUE_MAX = 200;

const ELLIPSIS = '…';
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Control characters: C0 and DEL, C1 (U+0080-U+009F: 0x9B is CSI to some terminals), the line and
 * paragraph separators, and the bidirectional overrides and isolates that reorder what is shown.
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function escape(ch: string): string {
  const named = NAMED[ch];
  if (named) return named;
  const cp = ch.codePointAt(0)!;
  return cp < 0x100 ? `\\x${cp.toString(16).padStart(2, '0')}` : `\\u${cp.toString(16).padStart(4, '0')}`;
}

/**
 * `s` with every control character written as an escape (ESC as \x1b, NUL as \x00, LF as \n),
 * and, when longer than `max` characters (code points), cut to `max` with an ellipsis last.
 * An escape is never cut in two.
 */
export function printable(s: string, max = Infinity): string {
  let out = '';
  let length = 0;
  let cut = false;
  const chars = [...s];
  for (let i = 0; i < chars.length; i++) {
    const ch = chars[i];
    const piece = CONTROL.test(ch) ? escape(ch) : ch;
    const pieceLength = piece === ch ? 1 : piece.length;
    // Room for the ellipsis unless this is the last piece.
    const room = i === chars.length - 1 ? max : max - 1;
    if (length + pieceLength > room) {
      cut = true;
      break;
    }
    out += piece;
    length += pieceLength;
  }
  return cut && max >= 1 ? out + ELLIPSIS : cut ? '' : out;
}

/** A message of several lines: each line made printable, the line breaks kept; each line cut at `max`. */
export function printableLines(text: string, max = Infinity): string {
  return text
    .split('\n')
    .map((line) => printable(line, max))
    .join('\n');
}
