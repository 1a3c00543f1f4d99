import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { startKubeApiServer } from './server.ts';

/**
 * `npm run kube:memory -- --port 6443 --kubeconfig FILE`: the in-memory API server for local play
 * (kubectl, the operator) without a cluster.
 */

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '6443' },
    host: { type: 'string', default: '127.0.0.1' },
    kubeconfig: { type: 'string', default: './kubeconfig.memory.yaml' },
    namespace: { type: 'string', default: 'default' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  process.stdout.write(`Usage: npm run kube:memory -- [--port 6443] [--host 127.0.0.1] [--kubeconfig FILE] [--namespace default]

Starts an in-memory Kubernetes API server (a test double) and writes a kubeconfig pointing at it.

Faults to rehearse, typed on its standard input (one per line) or sent as signals:
  drop-watches     (or kill -USR1 PID)  cut every open watch mid-stream; clients must reconnect
  expire-history   (or kill -USR2 PID)  a watch resumed from an older resourceVersion gets 410 Gone
`);
  process.exit(0);
}

const server = await startKubeApiServer({ port: Number(values.port), host: values.host });
const kubeconfig = resolve(values.kubeconfig);
server.writeKubeconfig(kubeconfig, values.namespace);

process.stdout.write(`Hourglass in-memory Kubernetes API server listening on ${server.url}

  THIS IS A TEST DOUBLE, NOT A CLUSTER: it stores objects, serves discovery, watches, CRDs
  (with schema and CEL validation), subresources and garbage collection, but it runs NO pods
  and NO controllers. A Deployment here never gets replicas; start workers yourself.
  Everything is lost when it stops.

  kubeconfig written to ${kubeconfig}
    export KUBECONFIG=${kubeconfig}
    kubectl apply -f crds/ && kubectl get st

  Faults to rehearse (type a line, or send a signal to PID ${process.pid}):
    drop-watches     (kill -USR1 ${process.pid})  cut every open watch mid-stream
    expire-history   (kill -USR2 ${process.pid})  a watch resumed from an older resourceVersion gets 410 Gone

Press Ctrl+C to stop.
`);

/** The fault helpers the tests use (docs/kube-memory.md), for anyone rehearsing a failure by hand. */
const faults: Record<string, () => void> = {
  'drop-watches': () => server.dropWatches(),
  'expire-history': () => server.expireHistory(),
};
const inject = (name: string) => {
  const fault = faults[name];
  if (!fault) {
    process.stdout.write(`unknown command "${name}": ${Object.keys(faults).join(', ')}\n`);
    return;
  }
  fault();
  process.stdout.write(`${name}: done\n`);
};
process.on('SIGUSR1', () => inject('drop-watches'));
process.on('SIGUSR2', () => inject('expire-history'));
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() !== '') inject(line.trim());
});

const stop = async () => {
  await server.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
