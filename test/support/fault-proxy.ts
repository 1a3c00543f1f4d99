import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy of our own between processes under test and a real service (Postgres, Redis, RabbitMQ),
 * so that faults are injected on the wire and the shared services are never restarted under other tests.
 *
 * - cut(): every open connection is reset and new ones are reset on arrival ("connection refused" as a
 *   client sees it), until restore().
 * - stall(): bytes stop flowing both ways but every socket stays open (a partition, a frozen broker, a
 *   full disk); new connections are accepted and held. restore() lets the held bytes through.
 * - blackholeOpen(): the connections open now stop forwarding for good but stay open, as when the peer's
 *   host vanished or a NAT entry was dropped (no FIN, no RST: only a client-side deadline finds out); new
 *   connections are forwarded as usual. restore() does not bring the blackholed ones back.
 * - restore(): back to forwarding.
 */
export type ProxyMode = 'forwarding' | 'cut' | 'stalled';

interface Pair {
  client: Socket;
  upstream: Socket;
  /** blackholed: bytes are dropped both ways, for good */
  dead?: boolean;
}

export interface FaultProxy {
  readonly port: number;
  /** `host:port` to put in a URL in place of the real service's */
  readonly address: string;
  readonly mode: ProxyMode;
  /** connections currently open through the proxy */
  readonly connections: number;
  /** connections accepted since the proxy started */
  readonly accepted: number;
  cut(): void;
  stall(): void;
  /** returns how many connections were blackholed */
  blackholeOpen(): number;
  restore(): void;
  close(): Promise<void>;
}

/** Starts a proxy on 127.0.0.1 (a free port unless `listenPort` is given) forwarding to target. */
export async function startFaultProxy(target: { host: string; port: number }, listenPort = 0): Promise<FaultProxy> {
  const pairs = new Set<Pair>();
  let mode: ProxyMode = 'forwarding';
  let accepted = 0;

  const reset = (socket: Socket): void => {
    if (socket.destroyed) return;
    // an RST, as a dead peer or a firewall would send; falls back to a plain close
    if (typeof socket.resetAndDestroy === 'function' && socket.readyState !== 'opening') socket.resetAndDestroy();
    else socket.destroy();
  };

  /** forwards `from` to `to` by hand (not pipe()), so that stall() can hold both directions */
  const forward = (pair: Pair, from: Socket, to: Socket): void => {
    from.on('data', (chunk: Buffer) => {
      // a vanished peer: what is sent is lost, and the sender's kernel is none the wiser
      if (pair.dead) return;
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (mode === 'forwarding' && !pair.dead) from.resume();
    });
  };

  const server: Server = createServer((client) => {
    accepted++;
    if (mode === 'cut') {
      reset(client);
      return;
    }
    client.setNoDelay(true);
    const upstream = connect({ host: target.host, port: target.port });
    upstream.setNoDelay(true);
    const pair: Pair = { client, upstream };
    pairs.add(pair);
    const close = (): void => {
      if (!pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    forward(pair, client, upstream);
    forward(pair, upstream, client);
    if (mode === 'stalled') {
      client.pause();
      upstream.pause();
    }
  });
  server.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : listenPort;

  return {
    port,
    address: `127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    get connections() {
      return pairs.size;
    },
    get accepted() {
      return accepted;
    },
    cut() {
      mode = 'cut';
      for (const pair of [...pairs]) {
        pairs.delete(pair);
        reset(pair.client);
        reset(pair.upstream);
      }
    },
    stall() {
      if (mode === 'cut') return;
      mode = 'stalled';
      for (const { client, upstream } of pairs) {
        client.pause();
        upstream.pause();
      }
    },
    blackholeOpen() {
      let count = 0;
      for (const pair of pairs) {
        if (pair.dead) continue;
        pair.dead = true;
        count++;
        // keep reading (and dropping) so that neither side sees back-pressure, as with a vanished host
        pair.client.resume();
        pair.upstream.resume();
      }
      return count;
    },
    restore() {
      mode = 'forwarding';
      for (const { client, upstream } of pairs) {
        client.resume();
        upstream.resume();
      }
    },
    async close() {
      for (const pair of [...pairs]) {
        pairs.delete(pair);
        pair.client.destroy();
        pair.upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The URL with its host and port replaced by the proxy's (credentials, path and query kept). */
export function viaProxy(url: string, proxy: Pick<FaultProxy, 'port'>): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(proxy.port);
  return parsed.toString();
}
