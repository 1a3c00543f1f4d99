import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';

/** The kubeconfig extension (on a cluster entry) that names the Hourglass REST API serving that cluster. */
export const API_EXTENSION = 'hourglass.dev/api';

export interface PluginTarget {
  /** base URL of the Hourglass REST API */
  apiUrl: string;
  apiKey: string | undefined;
  /** the namespace of the ScheduledTasks named on the command line */
  namespace: string;
  /** where the API URL came from, for error messages */
  source: string;
}

export interface TargetFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  apiUrl?: string;
  apiKey?: string;
}

interface RawKubeconfig {
  clusters?: Array<{ name?: string; cluster?: { extensions?: Array<{ name?: string; extension?: { url?: unknown } }> } }>;
}

/**
 * Where the plugin sends its requests, as kubectl users expect: the kubeconfig ($KUBECONFIG or
 * ~/.kube/config, or --kubeconfig), its current context (or --context) and that context's namespace (or
 * -n). The API URL: --api-url, else $HOURGLASS_API_URL, else the `hourglass.dev/api` extension of the
 * context's cluster in the kubeconfig, whose `url` is the REST API's base URL. The API key: --api-key, else
 * $HOURGLASS_API_KEY.
 */
export function resolveTarget(flags: TargetFlags, env: NodeJS.ProcessEnv = process.env): PluginTarget {
  const config = new KubeConfig();
  const file = flags.kubeconfig ?? (env.KUBECONFIG?.split(':')[0] || undefined);
  if (file) config.loadFromFile(file);
  else config.loadFromDefault();
  if (flags.context) config.setCurrentContext(flags.context);
  const context = config.getContextObject(config.getCurrentContext());
  const namespace = flags.namespace ?? context?.namespace ?? 'default';
  const apiKey = flags.apiKey ?? env.HOURGLASS_API_KEY;
  if (flags.apiUrl) return { apiUrl: flags.apiUrl, apiKey, namespace, source: '--api-url' };
  if (env.HOURGLASS_API_URL) return { apiUrl: env.HOURGLASS_API_URL, apiKey, namespace, source: '$HOURGLASS_API_URL' };
  const fromKubeconfig = file && context ? extensionUrl(readFileSync(file, 'utf8'), context.cluster) : undefined;
  if (fromKubeconfig) return { apiUrl: fromKubeconfig, apiKey, namespace, source: `the ${API_EXTENSION} extension of cluster ${context?.cluster}` };
  throw new Error(
    `no Hourglass API URL: pass --api-url, set HOURGLASS_API_URL, or add to cluster "${context?.cluster ?? '?'}" in the kubeconfig:\n` +
    `    extensions:\n    - name: ${API_EXTENSION}\n      extension:\n        url: https://hourglass.example.com`,
  );
}

function extensionUrl(kubeconfigText: string, clusterName: string): string | undefined {
  const raw = parse(kubeconfigText) as RawKubeconfig | null;
  const cluster = raw?.clusters?.find((c) => c.name === clusterName);
  const url = cluster?.cluster?.extensions?.find((e) => e.name === API_EXTENSION)?.extension?.url;
  return typeof url === 'string' && url !== '' ? url : undefined;
}

/** `st/NAME`, `scheduledtask/NAME`, `scheduledtasks.scheduling.hourglass.dev/NAME` or a bare NAME. */
export function taskName(reference: string): string {
  const slash = reference.indexOf('/');
  if (slash < 0) return reference;
  const kind = reference.slice(0, slash).toLowerCase();
  if (!['st', 'scheduledtask', 'scheduledtasks', 'scheduledtask.scheduling.hourglass.dev', 'scheduledtasks.scheduling.hourglass.dev'].includes(kind)) {
    throw new Error(`"${reference}" is not a ScheduledTask: use st/NAME`);
  }
  return reference.slice(slash + 1);
}
