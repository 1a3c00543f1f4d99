import pg from 'pg';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../clock/index.ts';
import type { Db, SessionLock, Transaction } from './db.ts';

// int8 (bigserial ids, counts) as JS numbers: ids stay far below 2^53.
pg.types.setTypeParser(20, (value) => Number(value));

export interface PgDbOptions {
  url: string;
  maxConnections: number;
  minConnections?: number;
  connectionTimeoutMs?: number;
  idleTimeoutMs?: number;
  statementTimeoutMs?: number;
  maxLifetimeSeconds?: number;
  /**
   * Client-side deadline of every round trip (0: none). statement_timeout is enforced by the server, so it
   * cannot end a query whose connection silently died (a vanished host, a dropped NAT entry): without this,
   * such a query waits for the kernel to give the socket up (~15 min of retransmissions). A query past it
   * fails and its connection is destroyed, never returned to the pool.
   */
  queryTimeoutMs?: number;
  /** timers of the connection checks */
  clock?: Clock;
  /** idle time before TCP keepalive probes start on every connection (0: no keepalive) */
  keepAliveMs?: number;
  logger?: Logger;
}

const LOCK_PING_MS = 2000;
const LISTEN_PING_MS = 5000;
const LISTEN_PING_DEADLINE_MS = 5000;

export async function openPgDb(options: PgDbOptions): Promise<Db> {
  const clock = options.clock ?? systemClock;
  const clientConfig = {
    connectionString: options.url,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    ...(options.statementTimeoutMs ? { statement_timeout: options.statementTimeoutMs } : {}),
    application_name: 'hourglass',
    // a client silent inside a transaction for that long is gone: the server ends it and frees its locks
    ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs, idle_in_transaction_session_timeout: options.queryTimeoutMs } : {}),
    ...(options.keepAliveMs ? { keepAlive: true, keepAliveInitialDelayMillis: options.keepAliveMs } : {}),
  };
  const pool = new pg.Pool({
    ...clientConfig,
    max: options.maxConnections,
    min: options.minConnections ?? 0,
    idleTimeoutMillis: options.idleTimeoutMs ?? 600_000,
    ...(options.maxLifetimeSeconds ? { maxLifetimeSeconds: options.maxLifetimeSeconds } : {}),
  });
  // An idle client that loses its connection emits here; without a handler the process would crash.
  pool.on('error', (error) => options.logger?.warn({ err: error.message }, 'postgres idle connection error'));
  // Fail fast with a clear error when the database is unusable at start.
  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw new Error(`cannot use the database at ${describeUrl(options.url)}: ${(error as Error).message}`, { cause: error });
  }

  const listeners = new Map<string, Set<(payload: string) => void>>();
  let listenClient: pg.Client | undefined;
  let listenConnecting: Promise<void> | undefined;
  let closed = false;

  async function connectListener(): Promise<void> {
    let delay = 100;
    while (!closed) {
      const client = new pg.Client(clientConfig);
      try {
        await client.connect();
        client.on('notification', (msg) => {
          for (const handler of listeners.get(msg.channel) ?? []) handler(msg.payload ?? '');
        });
        const reconnect = () => {
          if (listenClient !== client || closed) return;
          listenClient = undefined;
          options.logger?.warn('postgres LISTEN connection lost; reconnecting');
          listenConnecting = connectListener();
        };
        client.on('error', reconnect);
        client.on('end', reconnect);
        watchListener(client);
        for (const channel of listeners.keys()) await client.query(`LISTEN ${quoteIdent(channel)}`);
        listenClient = client;
        return;
      } catch (error) {
        options.logger?.warn({ err: (error as Error).message }, 'postgres LISTEN connection failed; retrying');
        await client.end().catch(() => {});
        await sleep(delay);
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  /**
   * A LISTEN connection only reads: on a silently dead connection it would wait for notifications forever.
   * A periodic round trip finds that out. One ping at a time, with its own deadline: waiting out
   * query_timeout (40 s by default) left the listener deaf that long while pings piled up on the dead
   * client. A lost connection is replaced at once: the dead socket's end may never come (no FIN, no RST).
   */
  function watchListener(client: pg.Client): void {
    if (!options.queryTimeoutMs) return;
    const deadlineMs = Math.min(options.queryTimeoutMs, LISTEN_PING_DEADLINE_MS);
    let pinging = false;
    const lose = (why: string) => {
      clock.clearInterval(ping);
      if (listenClient === client && !closed) {
        options.logger?.warn({ why }, 'postgres LISTEN connection unresponsive; reconnecting');
        listenClient = undefined;
        listenConnecting = connectListener();
      }
      void client.end().catch(() => {});
    };
    const ping = clock.setInterval(() => {
      if (listenClient !== client || closed) return clock.clearInterval(ping);
      if (pinging) return;
      pinging = true;
      const deadline = clock.setTimeout(() => lose(`no answer to a ping within ${deadlineMs} ms`), deadlineMs);
      deadline.unref?.();
      client.query('SELECT 1').then(
        () => {
          pinging = false;
          clock.clearTimeout(deadline);
        },
        (error: Error) => {
          clock.clearTimeout(deadline);
          lose(error.message);
        },
      );
    }, LISTEN_PING_MS);
    ping.unref?.();
  }

  return {
    kind: 'pg',
    async query(sql, params) {
      const result = await pool.query(sql, params as unknown[]);
      return { rows: result.rows, rowCount: result.rowCount ?? 0 };
    },
    async exec(sql) {
      await pool.query(sql);
    },
    async transaction(work) {
      const client = await pool.connect();
      // A checked-out client has no 'error' listener of the pool's: a connection reset mid-transaction would
      // be an unhandled 'error' event and crash the process. The statement in flight rejects anyway.
      const onError = (error: Error) => options.logger?.warn({ err: error.message }, 'postgres connection lost during a transaction');
      client.on('error', onError);
      let value: Awaited<ReturnType<typeof work>>;
      try {
        await client.query('BEGIN');
        const tx: Transaction = {
          async query(sql, params) {
            const result = await client.query(sql, params as unknown[]);
            return { rows: result.rows, rowCount: result.rowCount ?? 0 };
          },
          async exec(sql) {
            await client.query(sql);
          },
        };
        value = await work(tx);
        await client.query('COMMIT');
      } catch (error) {
        // A timed-out or broken connection cannot roll back (the ROLLBACK would wait out a second timeout):
        // it is destroyed instead, which ends the transaction on the server. So is one whose ROLLBACK fails.
        const broken = isConnectionFailure(error) || !(await client.query('ROLLBACK').then(() => true, () => false));
        client.off('error', onError);
        client.release(broken ? (error as Error) : undefined);
        throw error;
      }
      client.off('error', onError);
      client.release();
      return value;
    },
    async listen(channel, onNotify) {
      let handlers = listeners.get(channel);
      const isNew = !handlers;
      if (!handlers) listeners.set(channel, (handlers = new Set()));
      handlers.add(onNotify);
      if (!listenClient) await (listenConnecting ??= connectListener());
      else if (isNew) await listenClient.query(`LISTEN ${quoteIdent(channel)}`);
      return async () => {
        handlers.delete(onNotify);
      };
    },
    async tryLock(key) {
      const client = new pg.Client(clientConfig);
      // until holdLock takes over, a dying connection must not become an uncaught 'error' event
      const ignore = () => {};
      client.on('error', ignore);
      try {
        await client.connect();
        const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [key]);
        if (!rows[0]?.locked) {
          await client.end();
          return null;
        }
      } catch (error) {
        await client.end().catch(() => {});
        throw error;
      }
      client.off('error', ignore);
      return holdLock(client, key, options.logger);
    },
    async close() {
      closed = true;
      await listenClient?.end().catch(() => {});
      await pool.end();
    },
  };
}

function holdLock(client: pg.Client, key: number, logger?: Logger): SessionLock {
  let markLost!: () => void;
  const lost = new Promise<void>((resolve) => (markLost = resolve));
  let released = false;
  const loseIt = (why: string) => {
    if (released) return;
    released = true;
    clearInterval(ping);
    logger?.warn({ why }, 'advisory lock connection lost');
    client.end().catch(() => {});
    markLost();
  };
  client.on('error', (error) => loseIt(error.message));
  client.on('end', () => loseIt('connection ended'));
  // A half-open TCP connection raises no event: probe it, and give the lock up when it does not answer.
  const ping = setInterval(() => {
    const timer = setTimeout(() => loseIt('ping timed out'), LOCK_PING_MS * 2);
    client.query('SELECT 1').then(
      () => clearTimeout(timer),
      (error: Error) => {
        clearTimeout(timer);
        loseIt(error.message);
      },
    );
  }, LOCK_PING_MS);
  ping.unref();
  return {
    lost,
    async release() {
      if (released) return;
      released = true;
      clearInterval(ping);
      await client.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => {});
      await client.end().catch(() => {});
    },
  };
}

/** a query that outlived query_timeout, or a connection that broke under it */
function isConnectionFailure(error: unknown): boolean {
  const message = (error as Error)?.message ?? '';
  const code = (error as { code?: string })?.code ?? '';
  return message === 'Query read timeout' || /Connection terminated|connection.*(ended|closed)|not queryable/i.test(message)
    || ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', '57P01', '57P05'].includes(code);
}

/** host, port and database of a URL, never its credentials */
function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || 5432}${parsed.pathname}`;
  } catch {
    return '(unparseable database url)';
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
