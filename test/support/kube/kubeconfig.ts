import { stringify } from 'yaml';

/**
 * A kubeconfig for kubectl and client-node: cluster `hourglass-memory`, a dummy token, one current
 * context. `insecure-skip-tls-verify` is there because client-node refuses a plain-http server
 * without it; kubectl accepts it too.
 */
export function renderKubeconfig(url: string, namespace = 'default'): string {
  const name = 'hourglass-memory';
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    preferences: {},
    clusters: [{ name, cluster: { server: url, 'insecure-skip-tls-verify': true } }],
    users: [{ name, user: { token: 'hourglass-memory-dummy-token' } }],
    contexts: [{ name, context: { cluster: name, user: name, namespace } }],
    'current-context': name,
  });
}
