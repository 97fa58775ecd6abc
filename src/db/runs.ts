// Every run that does work is recorded in `runs`.
import type { Sql } from './pool.js';
import type { Summary } from '../report.js';
import { VERSION } from '../version.js';

export async function startRun(sql: Sql, command: string, source: string | null): Promise<number> {
  const [row] = await sql`insert into runs (command, source, version) values (${command}, ${source}, ${VERSION}) returning id`;
  return row.id as number;
}

export async function finishRun(sql: Sql, id: number, s: Summary): Promise<void> {
  await sql`
    update runs set finished_at = now(), status = ${s.status}, counts = ${sql.json(s.rows)},
      peak_rss_mb = ${s.memory.rss_peak_mb}, error = ${s.error?.message ?? null}, summary = ${sql.json(s as never)}
    where id = ${id}`;
}
