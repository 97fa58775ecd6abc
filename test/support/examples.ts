// The shell examples of the README and docs/, as tests: each ```sh block is run line by line (each
// line must exit 0, unless it ends with `# exit N`), and each transcript block (lines starting
// with "$ ", each followed by what it prints) is run and compared with what it prints, with what
// changes from run to run masked (timings, sizes, rates, paths of temporary folders, dates, run
// ids). Pure: reading the files and running the commands are the test's.

export interface Example {
  file: string;
  /** The line of the opening fence. */
  line: number;
  kind: 'sh' | 'transcript';
  /** sh: the commands; transcript: each command with the output shown for it. */
  steps: Array<{ command: string; expected?: string[]; exit: number }>;
}

/** Joins `\`-continued lines; drops comments and blank lines. */
function commands(lines: string[]): string[] {
  const out: string[] = [];
  let cur = '';
  for (const raw of lines) {
    const l = raw.replace(/\s+$/, '');
    if (!cur && (l.trim() === '' || l.trim().startsWith('#'))) continue;
    if (l.endsWith('\\')) {
      cur += l.slice(0, -1) + ' ';
      continue;
    }
    out.push((cur + l).trim());
    cur = '';
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** `cmd   # exit 3` -> 3; a plain command must exit 0. */
function exitOf(command: string): { command: string; exit: number } {
  const m = /\s+#\s*exit (\d+)\s*$/.exec(command);
  return m ? { command: command.slice(0, m.index), exit: Number(m[1]) } : { command, exit: 0 };
}

export function examplesOf(file: string, text: string): Example[] {
  const lines = text.split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)\s*$/.exec(lines[i]);
    if (!fence) continue;
    const lang = fence[1];
    let j = i + 1;
    while (j < lines.length && !/^```\s*$/.test(lines[j])) j++;
    const body = lines.slice(i + 1, j);
    if (lang === 'sh') {
      out.push({ file, line: i + 1, kind: 'sh', steps: commands(body).map((c) => exitOf(c)) });
    } else if (lang === '' && body.length && body[0].startsWith('$ ')) {
      const steps: Example['steps'] = [];
      for (const l of body) {
        if (l.startsWith('$ ')) steps.push({ ...exitOf(l.slice(2)), expected: [] });
        else steps[steps.length - 1].expected!.push(l);
      }
      out.push({ file, line: i + 1, kind: 'transcript', steps });
    }
    i = j;
  }
  return out;
}

/**
 * What may differ between two runs of the same example, made equal: numbers with a unit of time,
 * size or rate, dates and times, temporary and home paths, run ids, hashes in list names, and the
 * width that numbers took in aligned columns.
 */
export function mask(line: string): string {
  return line
    .replace(/--after \S+/g, '--after <cursor>')
    .replace(/buffers hit \d+ read \d+/g, 'buffers <n>')
    .replace(/holds about [\d,]+ rows/g, 'holds about <n> rows')
    .replace(/"next":"[^"]*"/g, '"next":"<cursor>"')
    .replace(/\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?/g, '<time>')
    .replace(/(\/tmp|\/var\/lib\/cars|\/root|\/home\/[^/\s]+)\/[^\s"',)]*/g, '<path>')
    .replace(/~\/\.cars\S*/g, '<path>')
    .replace(/\/\S*node_modules\S*/g, '<path>')
    .replace(/\b[0-9a-f]{8}\b/g, '<hash>')
    .replace(/\brun\s?\d+\b/g, 'run <n>')
    .replace(/[\d,.]+(\s?)(ms|s|MB|KB|KiB|MiB|bytes|rows\/s|m\d\ds)\b/g, '<n>$1$2')
    .replace(/[+-]<n>/g, '<n>')
    .replace(/\bpid \d+/g, 'pid <n>')
    .replace(/\s+/g, ' ')
    .trim();
}
