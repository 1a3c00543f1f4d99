import { randomBytes } from 'node:crypto';
import { SERVICE_URLS } from '../support/services.ts';
import { backendEnv, freePort, startProcess, writeTestConfig, type E2eWorld, type Json, type Proc } from '../support/processes.ts';

export const ADMIN_KEY = 'console-admin-key-0123456789';
export const READ_KEY = 'console-read-key-0123456789';
const JWT_SECRET = 'console-test-jwt-secret-0123456789abcdef';

/**
 * `scheduler --mode all` (API, dispatcher, worker) on the world's fresh Postgres: API keys and JWTs on,
 * or, with auth: false, open as in development (the API's loopback and same-origin rules apply then).
 */
export async function startConsoleSystem(world: E2eWorld, options: { auth?: boolean } = {}): Promise<{ proc: Proc; url: string }> {
  const unique = randomBytes(4).toString('hex');
  const config = writeTestConfig(world.tmp.dir, unique, {
    extra: options.auth === false ? '[api.auth]\nenabled = false\n' : `
[api.auth]
enabled = true
jwt_secret = "${JWT_SECRET}"

[api.auth.api_keys]
"${ADMIN_KEY}" = ["Admin"]
"${READ_KEY}" = ["TaskRead", "WorkerRead", "SystemRead"]
`,
  });
  const port = await freePort();
  const proc = startProcess({
    name: 'console-all',
    args: ['--mode', 'all', '--config', config],
    env: { ...backendEnv('postgres', world.db.url, SERVICE_URLS), API_BIND_ADDRESS: `127.0.0.1:${port}`, API_KEYS: undefined, JWT_SECRET: undefined },
  });
  await proc.waitForLine(/API listening/, 30_000);
  return { proc, url: `http://127.0.0.1:${port}` };
}

/** A JSON call with the admin key, for arranging and checking what the browser did. */
export async function adminCall(url: string, method: string, pathname: string, body?: unknown): Promise<{ status: number; json: Json }> {
  const response = await fetch(`${url}${pathname}`, {
    method,
    headers: { 'x-api-key': ADMIN_KEY, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}
