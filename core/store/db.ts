/** The database as the rest of the core sees it: node-postgres or embedded PGlite behind one interface. */
export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: Row[]; rowCount: number }>;
}

export interface Transaction extends Queryable {
  /** runs a script of several statements inside the transaction */
  exec(sql: string): Promise<void>;
}

export interface SessionLock {
  /** resolves when the lock is lost (its connection died); leadership must stop at once */
  readonly lost: Promise<void>;
  release(): Promise<void>;
}

export interface Db extends Queryable {
  readonly kind: 'pg' | 'pglite';
  /** runs a script of several statements (migrations) */
  exec(sql: string): Promise<void>;
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
  /** LISTEN on a channel; the returned function stops listening. Survives reconnects. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  /** tries a session-level advisory lock on its own connection; null when another session holds it */
  tryLock(key: number): Promise<SessionLock | null>;
  close(): Promise<void>;
}
