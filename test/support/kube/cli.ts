import { resolve } from 'node:path';
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

Press Ctrl+C to stop.
`);

const stop = async () => {
  await server.close();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());
