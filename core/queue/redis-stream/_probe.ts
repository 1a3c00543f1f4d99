import { Redis } from 'ioredis';
import { createRedisStreamConsumer, createRedisStreamProducer } from './index.ts';
const names = { namespace: 'hgprobe-' + process.pid, taskQueue: 'runs', statusQueue: 's', heartbeatQueue: 'h' };
const url = 'redis://127.0.0.1:6379';
const admin = new Redis(url, { protocol: 2 });
const producer = createRedisStreamProducer({ url, names });
const consumer = createRedisStreamConsumer({ url, names, workerId: 'probe-w' });
const msg = (runId: string) => ({ runId, attempt: 1, taskId: 't', taskName: 't', pool: 'p', priority: 0, type: 'shell', spec: {}, timeoutSeconds: 1, shard: 0, shardTotal: 1, scheduledTime: 'x' });
let t = Date.now(); console.log('start', t);
const pending = consumer.receive('p', { max: 5, waitMs: 4000 });
await new Promise((r) => setTimeout(r, 300));
const list = String(await admin.call('CLIENT', 'LIST'));
for (const line of list.split('\n')) if (line.includes('name=hourglass-worker-probe-w-blk')) { const id = /id=(\d+)/.exec(line)![1]!; console.log('kill', id); await admin.call('CLIENT', 'KILL', 'ID', id); }
console.log('receive after kill ->', await pending, Date.now() - t, 'ms');
await producer.publish([msg('r1')]);
const got = await consumer.receive('p', { max: 5, waitMs: 4000 });
console.log('receive after reconnect ->', got.map((d) => d.message.runId));
console.log('claim', await got[0]?.claim('probe-w'));
// publish to an unreachable redis
const dead = createRedisStreamProducer({ url: 'redis://127.0.0.1:6390', names });
t = Date.now();
try { await dead.publish([msg('r2')]); console.log('UNEXPECTED publish ok'); } catch (e) { console.log('publish to dead redis rejected after', Date.now() - t, 'ms:', (e as Error).message); }
const deadC = createRedisStreamConsumer({ url: 'redis://127.0.0.1:6390', names, workerId: 'x' });
t = Date.now();
console.log('receive on dead redis ->', await deadC.receive('p', { max: 1, waitMs: 1000 }), Date.now() - t, 'ms');
await dead.close(); await deadC.close();
await consumer.close(); await producer.close();
const keys = await admin.keys(names.namespace + ':*'); if (keys.length) await admin.del(...keys);
await admin.quit();
console.log('done');
