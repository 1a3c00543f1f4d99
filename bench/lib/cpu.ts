/**
 * CPU time spent on a measurement, by this process and by the Postgres backends serving its database.
 * Unlike wall-clock rates, CPU per job barely moves when other work shares the machine, so it is the
 * figure to compare between runs on a busy machine.
 */
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { SERVICE_URLS } from '../../test/support/services.ts';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/** user + system CPU of a process so far, ms (0 when unreadable) */
export function procCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
  } catch {
    return 0;
  }
}

/** CPU ms of every backend connected to `database` now (Postgres on this machine). */
export async function postgresCpuMs(database: string): Promise<Map<number, number>> {
  const client = new pg.Client({ connectionString: SERVICE_URLS.postgres });
  await client.connect();
  try {
    const { rows } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [database]);
    return new Map(rows.map((r) => [r.pid, procCpuMs(r.pid)]));
  } finally {
    await client.end();
  }
}

export function processCpuMs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
}

/** Sum of backend CPU between two readings (a backend absent at the start counts from zero). */
export function postgresDelta(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, ms] of after) total += ms - (before.get(pid) ?? 0);
  return total;
}
