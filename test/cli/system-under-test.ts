import { randomBytes } from 'node:crypto';
import { SERVICE_URLS } from '../support/services.ts';
import { backendEnv, freePort, startProcess, writeTestConfig, type E2eWorld, type Proc } from '../support/processes.ts';

export const ADMIN_KEY = 'cli-admin-key-0123456789';
export const READ_KEY = 'cli-read-key-0123456789';

/** API keys on, so the CLI's auth paths are exercised against the real checks. */
const AUTH = `
[api.auth]
enabled = true

[api.auth.api_keys]
"${ADMIN_KEY}" = ["Admin"]
"${READ_KEY}" = ["TaskRead", "WorkerRead", "SystemRead"]
`;

/** `scheduler --mode all` on the postgres queue of the world's fresh database, API keys required. */
export async function startSystem(world: E2eWorld, name = 'all'): Promise<{ proc: Proc; url: string }> {
  const unique = randomBytes(4).toString('hex');
  const config = writeTestConfig(world.tmp.dir, unique, { extra: AUTH });
  const port = await freePort();
  const proc = startProcess({
    name,
    args: ['--mode', 'all', '--config', config],
    env: { ...backendEnv('postgres', world.db.url, SERVICE_URLS), API_BIND_ADDRESS: `127.0.0.1:${port}`, API_KEYS: undefined },
  });
  await proc.waitForLine(/API listening/, 30_000);
  return { proc, url: `http://127.0.0.1:${port}` };
}
