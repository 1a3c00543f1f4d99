import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { exportSigningKeys, generateSigningKeys, signRunMessage } from '../../core/queue/run-signing.ts';
import type { RunMessage } from '../../core/queue/port.ts';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';
import {
  backendEnv, startAllInOne, startProcess, tracked, useE2eWorld, waitFor, writeTestConfig,
  type Api, type Backend, type FailureFlag, type Proc,
} from '../support/processes.ts';

/** Raw bytes put where run messages go, and whether the worker must dead-letter them. */
interface Poison {
  what: string;
  payload: Buffer;
  deadLettered: boolean;
}

function poisons(marker: string): Poison[] {
  const validShape = {
    runId: '987654321', attempt: 1, taskId: randomUUID(), taskName: 'forged', pool: 'default', priority: 0, type: 'shell',
    spec: { shell: { command: ['touch', marker] } }, timeoutSeconds: 5, shard: 0, shardTotal: 1, scheduledTime: new Date().toISOString(),
  };
  return [
    { what: 'garbage bytes', payload: Buffer.concat([Buffer.from([0xff, 0xfe, 0x00, 0x80]), randomBytes(64)]), deadLettered: true },
    { what: 'truncated JSON', payload: Buffer.from('{"runId": "1", "attempt": '), deadLettered: true },
    { what: 'JSON that is not an object', payload: Buffer.from('[1, 2, 3]'), deadLettered: true },
    { what: 'wrong schema', payload: Buffer.from(JSON.stringify({ runId: 7, attempt: 'first', spec: 'rm -rf /' })), deadLettered: true },
    { what: 'out-of-range fields', payload: Buffer.from(JSON.stringify({ ...validShape, runId: '', priority: 1e9, shardTotal: 0 })), deadLettered: true },
    { what: 'a megabyte of junk', payload: Buffer.from(JSON.stringify({ junk: 'x'.repeat(1 << 20) })), deadLettered: true },
    // well formed, but not signed by this installation's core (and no such run in Postgres): never executed
    { what: 'unsigned run', payload: Buffer.from(JSON.stringify(validShape)), deadLettered: false },
  ];
}

interface Broker {
  inject(payloads: Buffer[]): Promise<void>;
  /** puts a raw status event where workers' status events go */
  injectStatus(event: unknown): Promise<void>;
  deadLetters(): Promise<{ reason: string; payload: Buffer }[]>;
  close(): Promise<void>;
}

async function redisBroker(taskQueue: string): Promise<Broker> {
  const redis = new Redis(SERVICE_URLS.redis, { lazyConnect: true, maxRetriesPerRequest: 3 });
  await redis.connect();
  const stream = `hourglass:${taskQueue}:default:p0`;
  const dead = `hourglass:${taskQueue}:dead`;
  return {
    async inject(payloads) {
      for (const payload of payloads) await redis.xadd(stream, '*', 'm', payload);
    },
    async injectStatus(event) {
      await redis.xadd(`hourglass:s-${taskQueue.slice(2)}`, '*', 'm', JSON.stringify(event));
    },
    async deadLetters() {
      const entries = (await redis.xrangeBuffer(dead, '-', '+')) as [Buffer, Buffer[]][];
      return entries.map(([, fields]) => {
        const record = new Map<string, Buffer>();
        for (let i = 0; i + 1 < fields.length; i += 2) record.set(String(fields[i]), fields[i + 1] as Buffer);
        return { reason: String(record.get('reason') ?? ''), payload: record.get('payload') ?? Buffer.alloc(0) };
      });
    },
    async close() {
      const keys = await redis.keys(`hourglass:${taskQueue}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
    },
  };
}

async function rabbitBroker(taskQueue: string): Promise<Broker> {
  const connection = await amqp.connect(SERVICE_URLS.rabbitmq);
  const channel = await connection.createConfirmChannel();
  const queue = `hourglass.${taskQueue}.default`;
  const deadQueue = `hourglass.${taskQueue}.dead`;
  const collected: { reason: string; payload: Buffer }[] = [];
  return {
    async inject(payloads) {
      await channel.assertQueue(queue, { durable: true, arguments: { 'x-max-priority': 10, 'x-dead-letter-exchange': `hourglass.${taskQueue}.dead` } });
      for (const payload of payloads) channel.sendToQueue(queue, payload, { persistent: true });
      await channel.waitForConfirms();
    },
    async injectStatus(event) {
      channel.sendToQueue(`hourglass.s-${taskQueue.slice(2)}`, Buffer.from(JSON.stringify(event)), { persistent: true });
      await channel.waitForConfirms();
    },
    async deadLetters() {
      await channel.assertQueue(deadQueue, { durable: true });
      for (;;) {
        const msg = await channel.get(deadQueue, { noAck: true });
        if (!msg) break;
        collected.push({ reason: String(msg.properties.headers?.['x-hourglass-reason'] ?? ''), payload: msg.content });
      }
      return collected.slice();
    },
    async close() {
      for (const name of [queue, deadQueue, `hourglass.${taskQueue}.claims`]) await channel.deleteQueue(name).catch(() => {});
      await connection.close().catch(() => {});
    },
  };
}

const BACKENDS: { backend: Backend; services: Parameters<typeof skipUnless>; open: (taskQueue: string) => Promise<Broker> }[] = [
  { backend: 'redis_stream', services: ['postgres', 'redis'], open: redisBroker },
  { backend: 'rabbitmq', services: ['postgres', 'rabbitmq'], open: rabbitBroker },
];

for (const { backend, services, open } of BACKENDS) {
  describe(`poison run messages are dead-lettered and block nothing (${backend})`, { skip: await skipUnless(...services) }, () => {
    const flag: FailureFlag = { failed: false };
    const world = useE2eWorld(flag);
    let client: Api;
    let worker: Proc;
    let broker: Broker;

    // the core signs with the secret key; the worker holds only the public key (issue 13, item 2)
    const keys = generateSigningKeys();
    const exported = exportSigningKeys(keys);

    before(tracked(flag, async () => {
      const unique = uniqueNamespace('poison');
      const coreConfig = writeTestConfig(world.tmp.dir, `${unique}`, { workerEnabled: false, extra: `[message_queue.signing]\nsecret_key = "${exported.secretKey}"\n` });
      const workerConfig = writeTestConfig(world.tmp.dir, `${unique}-w`, { workerEnabled: false, extra: `[message_queue.signing]\npublic_key = "${exported.publicKey}"\n` });
      // both files name the same queues (writeTestConfig derives them from its second argument)
      const { readFileSync: read, writeFileSync: write } = await import('node:fs');
      write(workerConfig, read(workerConfig, 'utf8').replaceAll(`${unique}-w`, unique));
      const { proc: core, client: coreClient } = await startAllInOne(world, backend, coreConfig, `core-${backend}`);
      await core.waitForLine(/became the dispatcher leader/, 15_000);
      client = coreClient;
      worker = startProcess({ name: 'worker', args: ['--mode', 'worker', '--worker-id', 'pw', '--config', workerConfig], env: backendEnv(backend, world.db.url, SERVICE_URLS) });
      await worker.waitForLine(/worker started/, 20_000);
      broker = await open(`t-${unique}`);
    }));
    after(async () => {
      await broker?.close();
    });

    it('garbage, wrong schemas and unknown runs around a real run: the real run succeeds, the worker lives', tracked(flag, async () => {
      const marker = path.join(world.shared.dir, 'forged-run-executed');
      const cases = poisons(marker);
      const task = await client.post('/api/tasks', { name: 'real', type: 'noop', params: {} });
      assert.equal(task.status, 201, JSON.stringify(task.body));

      await broker.inject(cases.map((c) => c.payload));
      const before = await client.post(`/api/tasks/${task.body.id}/trigger`);
      assert.equal(before.status, 201);
      await broker.inject(cases.map((c) => c.payload));
      const afterPoison = await client.post(`/api/tasks/${task.body.id}/trigger`);
      assert.equal(afterPoison.status, 201);

      for (const runId of [before.body.id, afterPoison.body.id]) {
        const run = await waitFor(async () => {
          const { rows } = await world.sql.query(`SELECT status, error FROM hg_runs WHERE id = $1 AND status NOT IN ('pending', 'queued', 'running')`, [runId]);
          return rows[0];
        }, 20_000, 200, `run ${runId} next to the poison`);
        assert.equal(run.status, 'succeeded', JSON.stringify(run));
      }

      const expected = cases.filter((c) => c.deadLettered);
      // an unsigned message is refused by the worker: redis_stream dead-letters it in the broker, rabbitmq
      // refuses its claim at the core, which keeps it in hg_dead_letters
      const refusedInBroker = backend === 'redis_stream' ? 2 : 0;
      const dead = await waitFor(async () => {
        const letters = await broker.deadLetters();
        return letters.length >= expected.length * 2 + refusedInBroker ? letters : undefined;
      }, 15_000, 250, 'the dead letters');
      assert.equal(dead.length, expected.length * 2 + refusedInBroker, `dead letters: ${dead.map((d) => d.reason).join(' | ')}`);
      if (backend === 'redis_stream') {
        assert.equal(dead.filter((d) => /not signed by this installation/.test(d.reason)).length, 2, 'the unsigned run is dead-lettered with why');
      } else {
        const { rows } = await waitFor(async () => {
          const result = await world.sql.query(`SELECT reason FROM hg_dead_letters WHERE run_id = '987654321'`);
          return result.rows.length >= 2 ? result : undefined;
        }, 15_000, 250, 'the refused claims');
        assert.match(rows[0].reason, /not signed by this installation/);
      }
      await worker.waitForLine(/not signed/, 5_000).catch(() => assert.fail('the worker logs the refused message'));
      for (const poison of expected) {
        // redis_stream keeps the payload as text: bytes that are not UTF-8 come back as U+FFFD
        const letters = dead.filter((d) => d.payload.toString('utf8') === poison.payload.toString('utf8'));
        assert.equal(letters.length, 2, `${poison.what}: dead-lettered ${letters.length} times, with its payload`);
        for (const letter of letters) assert.match(letter.reason, /^run message: .+/, `${poison.what}: the reason says what was wrong`);
      }
      assert.ok(dead.some((d) => /invalid JSON/.test(d.reason)), 'garbage is called invalid JSON');
      assert.ok(dead.some((d) => /attempt/.test(d.reason)), 'a schema problem names the field');

      const { rows: forged } = await world.sql.query(`SELECT id FROM hg_runs WHERE id = 987654321`);
      assert.deepEqual(forged, [], 'an unknown run must not appear in the history');
      // issue 13, item 2: an XADD / publish of a well-formed run message by whoever holds the broker's
      // password ran it on the pool's worker; now only what the core signed runs
      assert.equal(existsSync(marker), false, 'the forged run was executed');
      assert.equal(worker.exited, false, 'the worker died');
      assert.ok(!worker.lines.some((l) => /uncaught|unhandled/i.test(l)), 'the worker logged an uncaught error');
    }));

    it('a second copy of a running attempt (a new leader republishes queued runs) is not executed again', tracked(flag, async () => {
      const journal = path.join(world.shared.dir, 'copies.journal');
      const shell = { command: ['sh', '-c', `echo "$HOURGLASS_RUN_ID/$HOURGLASS_ATTEMPT" >> '${journal}'; sleep 3`] };
      const task = await client.post('/api/tasks', { name: 'copied', type: 'shell', shell });
      assert.equal(task.status, 201, JSON.stringify(task.body));
      const run = await client.post(`/api/tasks/${task.body.id}/trigger`);
      assert.equal(run.status, 201);
      await waitFor(() => existsSync(journal), 10_000, 50, 'the first copy to start');
      // a genuine copy: signed by the core, as a new leader's republish would be
      const copy = signRunMessage({
        runId: String(run.body.id), attempt: 1, taskId: task.body.id, taskName: 'copied', pool: 'default', priority: 0, type: 'shell',
        spec: { shell }, timeoutSeconds: 300, shard: 0, shardTotal: 1, scheduledTime: run.body.scheduledTime,
      } as RunMessage, keys.secret);
      await broker.inject([Buffer.from(JSON.stringify(copy)), Buffer.from(JSON.stringify(copy))]);
      const finished = await waitFor(async () => {
        const { rows } = await world.sql.query(`SELECT status FROM hg_runs WHERE id = $1 AND status NOT IN ('pending', 'queued', 'running')`, [run.body.id]);
        return rows[0];
      }, 20_000, 200, 'the run to finish');
      assert.equal(finished.status, 'succeeded');
      await new Promise((resolve) => setTimeout(resolve, 1500)); // a copy started late would have written by now
      assert.deepEqual(readFileSync(journal, 'utf8').trim().split('\n'), [`${run.body.id}/1`], 'the attempt was executed more than once');
    }));

    it('a forged outcome from a worker that does not hold the attempt is not applied, and is kept with why', tracked(flag, async () => {
      const task = await client.post('/api/tasks', { name: 'forged-outcome', type: 'shell', shell: { command: ['sh', '-c', 'sleep 2; echo real'] } });
      assert.equal(task.status, 201, JSON.stringify(task.body));
      const run = await client.post(`/api/tasks/${task.body.id}/trigger`);
      await waitFor(async () => {
        const { rows } = await world.sql.query(`SELECT status FROM hg_runs WHERE id = $1 AND status = 'running'`, [run.body.id]);
        return rows[0];
      }, 10_000, 50, 'the run to start');
      await broker.injectStatus({ kind: 'finished', runId: String(run.body.id), attempt: 1, workerId: 'intruder', at: new Date().toISOString(), status: 'succeeded', output: 'forged' });
      // the holder's own id is not enough: the worker signs its outcomes and heartbeats with its own key
      await broker.injectStatus({ kind: 'finished', runId: String(run.body.id), attempt: 1, workerId: 'pw', at: new Date().toISOString(), status: 'failed', output: 'forged' });
      const beat = { kind: 'heartbeat', workerId: 'pw', pool: 'default', taskTypes: ['shell'], concurrency: 10, activeRuns: 0, status: 'ALIVE', hostname: 'h', version: 'x', startedAt: new Date().toISOString(), at: new Date().toISOString(), held: [], abandoned: [`${run.body.id}/1`] };
      await broker.injectStatus(beat);
      const finished = await waitFor(async () => {
        const { rows } = await world.sql.query(`SELECT status, output FROM hg_runs WHERE id = $1 AND status NOT IN ('pending', 'queued', 'running')`, [run.body.id]);
        return rows[0];
      }, 20_000, 100, 'the run to finish');
      assert.equal(finished.status, 'succeeded');
      assert.match(finished.output, /real/);
      const { rows } = await world.sql.query(`SELECT reason FROM hg_dead_letters WHERE run_id = $1 AND kind = 'finished' ORDER BY id`, [String(run.body.id)]);
      assert.match(rows[0]?.reason ?? '', /worker "intruder" does not hold attempt/);
      assert.match(rows[1]?.reason ?? '', /not signed with the key of worker "pw"/);
      const beats = await world.sql.query(`SELECT reason FROM hg_dead_letters WHERE worker_id = 'pw' AND kind = 'heartbeat'`);
      assert.match(beats.rows[0]?.reason ?? '', /not signed with its key/, 'a forged heartbeat cannot declare the attempt abandoned');
      const { rows: attempts } = await world.sql.query(`SELECT attempt FROM hg_runs WHERE task_id = $1`, [task.body.id]);
      assert.equal(attempts.length, 1, 'no retry: the attempt was never failed on the forger\'s word');
    }));
  });
}
