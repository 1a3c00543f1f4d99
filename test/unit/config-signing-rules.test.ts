/**
 * Issue 13, item 2: outside development a process on a broker does not start without its run-signing key.
 * Unsigned run messages are what let anyone with the broker password make a worker run anything
 * (docs/brokers.md), so the core must sign and the worker must verify.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { defaultConfigDir, loadConfig } from '../../core/config/index.ts';
import type { ConfigMode } from '../../core/config/rules.ts';
import { problemsOf } from '../support/validation.ts';

const BROKER = { DATABASE_URL: 'postgresql://u:p@db/s', MESSAGE_QUEUE_URL: 'amqp://u:p@mq', JWT_SECRET: 'a-very-long-jwt-secret-of-at-least-32-chars' };
const KEYS = { RUN_SIGNING_SECRET_KEY: 'the-secret-key', RUN_SIGNING_PUBLIC_KEY: 'the-public-key' };
const CORE_MODES: (ConfigMode | undefined)[] = ['api', 'dispatcher', 'all', 'operator', undefined];

describe('run-signing keys required outside development', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'hg-signing-rules-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const load = (environment: string, env: Record<string, string | undefined>, mode?: ConfigMode, extraFiles: string[] = []) =>
    loadConfig({ configDir: defaultConfigDir(), environment, env, extraFiles, ...(mode ? { mode } : {}) });

  it('refuses a dispatcher, API, all-in-one or dispatching operator without the secret key, naming the variable', () => {
    for (const environment of ['staging', 'production']) {
      for (const mode of CORE_MODES) {
        const problems = problemsOf(() => load(environment, { ...BROKER, STAGING_DATABASE_URL: BROKER.DATABASE_URL, STAGING_MESSAGE_QUEUE_URL: BROKER.MESSAGE_QUEUE_URL, STAGING_JWT_SECRET: BROKER.JWT_SECRET, RUN_SIGNING_PUBLIC_KEY: KEYS.RUN_SIGNING_PUBLIC_KEY }, mode));
        assert.deepEqual(problems.map((p) => p.path), ['message_queue.signing.secret_key'], `${environment} ${mode ?? '(no mode)'}`);
        assert.match(problems[0]?.message ?? '', new RegExp(`the ${environment} environment .* on rabbitmq, so it needs the secret key \\(set RUN_SIGNING_SECRET_KEY`));
        assert.equal(load(environment, { ...BROKER, STAGING_DATABASE_URL: BROKER.DATABASE_URL, STAGING_MESSAGE_QUEUE_URL: BROKER.MESSAGE_QUEUE_URL, STAGING_JWT_SECRET: BROKER.JWT_SECRET, ...KEYS }, mode).config.environment, environment);
      }
    }
  });

  it('refuses a worker without the public key, and lets it start with it alone', () => {
    const worker = { MESSAGE_QUEUE_URL: BROKER.MESSAGE_QUEUE_URL };
    const [problem, ...rest] = problemsOf(() => load('production', worker, 'worker'));
    assert.deepEqual(rest, []);
    assert.equal(problem?.path, 'message_queue.signing.public_key');
    assert.match(problem?.message ?? '', /a worker on rabbitmq runs only run messages signed by the core, so it needs the public key \(set RUN_SIGNING_PUBLIC_KEY/);
    const { config } = load('production', { ...worker, RUN_SIGNING_PUBLIC_KEY: KEYS.RUN_SIGNING_PUBLIC_KEY }, 'worker');
    assert.equal(config.message_queue.signing.secret_key, '', 'the worker never needs the secret key');
  });

  it('accepts the keys from files, and asks nothing of the postgres queue, an operator that does not dispatch, or development', () => {
    const files = path.join(dir, 'files.toml');
    writeFileSync(files, '[message_queue.signing]\nsecret_key_file = "/run/secrets/signing.key"\npublic_key_file = "/run/secrets/signing.pub"\n');
    assert.equal(load('production', BROKER, 'dispatcher', [files]).config.message_queue.signing.secret_key_file, '/run/secrets/signing.key');
    assert.equal(load('production', { MESSAGE_QUEUE_URL: BROKER.MESSAGE_QUEUE_URL }, 'worker', [files]).config.environment, 'production');
    assert.equal(load('production', { ...BROKER, MESSAGE_QUEUE_TYPE: 'postgres' }, 'all').config.message_queue.type, 'postgres');
    const reconcileOnly = path.join(dir, 'operator.toml');
    writeFileSync(reconcileOnly, '[operator]\nrun_dispatcher = false\n');
    assert.equal(load('production', BROKER, 'operator', [reconcileOnly]).config.operator.run_dispatcher, false);
    for (const mode of [...CORE_MODES, 'worker' as const]) {
      assert.equal(load('development', { MESSAGE_QUEUE_TYPE: 'redis_stream', DATABASE_URL: BROKER.DATABASE_URL }, mode).config.message_queue.signing.secret_key, '', `development ${mode ?? '(no mode)'}`);
    }
  });
});
