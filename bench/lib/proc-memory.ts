import { readFileSync } from 'node:fs';

/** A process's resident memory now and at its peak (VmRSS, VmHWM of /proc/<pid>/status), MB; NaN when unreadable. */
export function procMemoryMb(pid: number): { rssMb: number; peakMb: number } {
  let status = '';
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    // gone, or not Linux
  }
  const mb = (field: string) => {
    const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(status);
    return match ? Math.round(Number(match[1]) / 1024) : NaN;
  };
  return { rssMb: mb('VmRSS'), peakMb: mb('VmHWM') };
}
