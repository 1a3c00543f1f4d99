import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Real services the integration suites talk to. In CI (REQUIRE_SERVICES=1) a missing service fails the
 * run; on a laptop without it, the suite is skipped and says so loudly.
 */
export const SERVICE_URLS = {
  postgres: process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
  redis: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379',
  rabbitmq: process.env.TEST_AMQP_URL ?? 'amqp://guest:guest@127.0.0.1:5672',
} as const;
export type ServiceName = keyof typeof SERVICE_URLS;

const DEFAULT_PORTS: Record<ServiceName, number> = { postgres: 5432, redis: 6379, rabbitmq: 5672 };
const checked = new Map<ServiceName, Promise<boolean>>();

function reachable(service: ServiceName): Promise<boolean> {
  const url = new URL(SERVICE_URLS[service]);
  const port = Number(url.port || DEFAULT_PORTS[service]);
  return new Promise((resolve) => {
    const socket = connect({ host: url.hostname, port, timeout: 2000 });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Returns false (after a loud warning) when the service is down and services are optional; throws when
 * REQUIRE_SERVICES=1. Use as: `describe('x', { skip: await skipUnless('redis') }, ...)`.
 */
export async function skipUnless(...services: ServiceName[]): Promise<string | false> {
  for (const service of services) {
    if (!checked.has(service)) checked.set(service, reachable(service));
    if (await checked.get(service)) continue;
    const message = `${service} is not reachable at ${SERVICE_URLS[service]}`;
    if (process.env.REQUIRE_SERVICES === '1') throw new Error(`${message} and REQUIRE_SERVICES=1: integration tests cannot run`);
    console.warn(`\n!!! SKIPPED: ${message}; set REQUIRE_SERVICES=1 to make this a failure !!!\n`);
    return `${service} not reachable`;
  }
  return false;
}

/** A fresh database for one test file, dropped by the returned cleanup. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `hg_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: SERVICE_URLS.postgres });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(SERVICE_URLS.postgres);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: SERVICE_URLS.postgres });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** A unique namespace for broker objects (streams, queues, exchanges) of one test. */
export function uniqueNamespace(prefix = 'hgtest'): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}
