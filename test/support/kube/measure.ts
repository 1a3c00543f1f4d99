import { request as httpRequest, Agent } from 'node:http';
import { parse } from 'yaml';
import { SAMPLE_CRD_YAML, sampleTask } from './sample-crd.ts';
import { startKubeApiServer } from './server.ts';

/**
 * Reproducible figures for docs/kube-memory.md: `node test/support/kube/measure.ts [objects] [watchers]`.
 * Creates N custom resources (32 requests in flight) while W watchers stream, then times lists.
 */

const objects = Number(process.argv[2] ?? 10_000);
const watchers = Number(process.argv[3] ?? 5);
const server = await startKubeApiServer();
const agent = new Agent({ keepAlive: true, maxSockets: 32 });
const base = new URL(server.url);

function send(method: string, path: string, body?: unknown, accept = 'application/json'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = httpRequest({ host: base.hostname, port: base.port, path, method, agent, headers: { accept, ...(payload ? { 'content-type': 'application/json' } : {}) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

await send('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', parse(SAMPLE_CRD_YAML));
const collection = '/apis/sample.hourglass.dev/v1alpha1/namespaces/default/sampletasks';
let delivered = 0;
const streams = Array.from({ length: watchers }, () => new Promise<void>((resolve) => {
  const req = httpRequest({ host: base.hostname, port: base.port, path: `${collection}?watch=true` }, (res) => {
    res.on('data', (chunk: Buffer) => { for (const byte of chunk) if (byte === 10) delivered++; });
    res.on('close', () => resolve());
    res.on('error', () => resolve());
  });
  req.on('error', () => resolve());
  req.end();
}));

let started = performance.now();
let next = 0;
await Promise.all(Array.from({ length: 32 }, async () => {
  while (next < objects) {
    const index = next++;
    const response = await send('POST', collection, sampleTask(`task-${index}`));
    if (response.status !== 201) throw new Error(response.text);
  }
}));
const createMs = performance.now() - started;
await new Promise((resolve) => setTimeout(resolve, 200));

const timings: number[] = [];
let bytes = 0;
for (let round = 0; round < 5; round++) {
  started = performance.now();
  const response = await send('GET', collection);
  timings.push(performance.now() - started);
  bytes = response.text.length;
}
started = performance.now();
await send('GET', collection, undefined, 'application/json;as=Table;v=v1;g=meta.k8s.io');
const tableMs = performance.now() - started;

console.log(JSON.stringify({
  objects,
  watchers,
  createSeconds: Number((createMs / 1000).toFixed(1)),
  createsPerSecond: Math.round(objects / (createMs / 1000)),
  listMs: { best: Math.round(Math.min(...timings)), median: Math.round([...timings].sort((a, b) => a - b)[2] as number) },
  listMegabytes: Number((bytes / 1e6).toFixed(1)),
  tableMs: Math.round(tableMs),
  watchEventsDelivered: delivered,
  watchEventsExpected: objects * watchers,
}, null, 2));
server.dropWatches();
await Promise.all(streams);
agent.destroy();
await server.close();
