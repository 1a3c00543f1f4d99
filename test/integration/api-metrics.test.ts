import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { FastifyInstance } from 'fastify';
import { buildApi } from '../../api/server.ts';
import { applyStatusEvents } from '../../core/dispatch/status.ts';
import { createMetrics } from '../../core/telemetry/metrics.ts';
import { coreOnTestDatabase, silentLogger } from '../support/core.ts';
import { skipUnless } from '../support/services.ts';

const skip = await skipUnless('postgres');

function findPromtool(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' }).stdout.trim();
  return found || undefined;
}

const promtool = findPromtool();
const promtoolSkip = promtool
  ? false
  : process.env.REQUIRE_SERVICES === '1'
    ? (() => { throw new Error('promtool is not installed and REQUIRE_SERVICES=1 (apt-get install prometheus)'); })()
    : (console.warn('\n!!! SKIPPED: promtool is not installed (Debian: apt-get install prometheus); /metrics is not checked by it !!!\n'), 'promtool not installed');

describe('/metrics', { skip }, () => {
  let env: Awaited<ReturnType<typeof coreOnTestDatabase>>;
  let app: FastifyInstance;
  let text: string;
  before(async () => {
    env = await coreOnTestDatabase();
    const metrics = createMetrics();
    app = await buildApi({ ctx: env.ctx, logger: silentLogger, version: 'test', metrics });
    await app.inject({ method: 'POST', url: '/api/tasks', payload: { name: 'm', type: 'noop', params: {}, pool: 'metrics-pool' } });
    await app.inject({ method: 'POST', url: '/api/tasks/m/trigger' });
    await app.inject({ url: '/api/tasks/m' });
    await applyStatusEvents(env.ctx, [{
      kind: 'heartbeat', workerId: 'w-"quoted"', pool: 'metrics-pool', taskTypes: ['noop'], concurrency: 4, activeRuns: 1, status: 'ALIVE',
      hostname: 'h', version: 't', startedAt: new Date().toISOString(), at: new Date().toISOString(),
    }]);
    metrics.scheduleLag.observe(0.02);
    text = (await app.inject({ url: '/metrics' })).body;
  });
  after(async () => {
    await app?.close();
    await env?.close();
  });

  it('exposes the cluster gauges from Postgres and HTTP durations by route template', () => {
    assert.match(text, /^queue_backlog\{pool="metrics-pool"\} 1$/m);
    assert.match(text, /^workers_alive 1$/m);
    assert.match(text, /^worker_load_percentage\{worker_id="w-\\"quoted\\""\} 25$/m);
    assert.match(text, /^http_request_duration_seconds_count\{route="\/api\/tasks\/:id",method="GET",status="200"\} 1$/m);
    assert.match(text, /^schedule_lag_seconds_count 1$/m);
    for (const name of ['tasks_executed_total', 'scheduler_task_failures_total', 'task_execution_duration_seconds', 'process_cpu_seconds_total']) {
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
  });

  it('passes promtool check metrics', { skip: promtoolSkip }, () => {
    const result = spawnSync(promtool as string, ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`);
    assert.equal(`${result.stdout}${result.stderr}`.trim(), '', 'no lint warnings either');
  });
});
