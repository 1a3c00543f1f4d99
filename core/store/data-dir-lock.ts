import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';

/**
 * One process per embedded data directory. PGlite has no postmaster to refuse a second opener: two
 * processes on one directory each became dispatcher leader (the advisory lock is per process there)
 * and ran the same tasks twice, and both wrote the same files. A lock file created exclusively
 * (O_EXCL) names the holder; a lock whose holder is gone (same host, pid not alive) is taken over.
 */
export const LOCK_FILE = 'hourglass.lock';

export class DataDirLockedError extends Error {
  readonly code = 'HG_ERR_DATA_DIR_LOCKED';
  readonly holderPid: number | undefined;
  constructor(message: string, holderPid: number | undefined) {
    super(message);
    this.name = 'DataDirLockedError';
    this.holderPid = holderPid;
  }
}

interface Holder {
  pid: number;
  host: string;
}

function readHolder(file: string): Holder | undefined {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as Partial<Holder>;
    return typeof parsed.pid === 'number' && typeof parsed.host === 'string' ? { pid: parsed.pid, host: parsed.host } : undefined;
  } catch {
    return undefined; // gone meanwhile, or half-written by a process that died while writing it
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is just not ours to signal
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface DataDirLock {
  readonly file: string;
  release(): void;
}

/** Takes the lock of `dataDir` for this process, or throws DataDirLockedError naming the holder. */
export function lockDataDir(dataDir: string, pid = process.pid): DataDirLock {
  const file = path.join(dataDir, LOCK_FILE);
  const me: Holder = { pid, host: hostname() };
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = readHolder(file);
      if (holder && holder.pid === pid && holder.host === me.host) throw new DataDirLockedError(`the data directory ${dataDir} is already open in this process (pid ${pid})`, pid);
      if (holder && (holder.host !== me.host || isAlive(holder.pid))) {
        const where = holder.host === me.host ? '' : ` on host ${holder.host}`;
        throw new DataDirLockedError(
          `the data directory ${dataDir} is in use by process ${holder.pid}${where}: one process per embedded database ` +
            `(stop that one, or start this one with another --data-dir; if no such process runs, delete ${file})`,
          holder.pid,
        );
      }
      // the holder is gone (or the file is unreadable): take the lock over
      try {
        unlinkSync(file);
      } catch {
        // another starter removed it first; the exclusive create decides between us
      }
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(me));
    } finally {
      closeSync(fd);
    }
    const release = () => {
      process.off('exit', release);
      const holder = readHolder(file);
      if (holder?.pid === pid && holder.host === me.host) {
        try {
          unlinkSync(file);
        } catch {
          // already gone
        }
      }
    };
    // a process that exits without closing the database (a crash is handled by the liveness check)
    process.on('exit', release);
    return { file, release };
  }
  throw new DataDirLockedError(`the data directory ${dataDir} is being opened by another process at this moment; try again`, undefined);
}
