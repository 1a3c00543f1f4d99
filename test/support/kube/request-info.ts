/**
 * Turns a URL path into what it addresses, with the real server's rules: `/api/v1/...` is the core
 * group, `/apis/<group>/<version>/...` the others, a `/watch/` segment means watch=true, and
 * `/namespaces/<ns>/<resource>` scopes a resource unless what follows is a namespace subresource.
 */

export interface ResourcePath {
  group: string;
  version: string;
  resource: string;
  namespace: string;
  name: string | undefined;
  subresource: string | undefined;
  watchPrefix: boolean;
}

const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

export function parseResourcePath(pathname: string): ResourcePath | undefined {
  const parts = pathname.split('/').filter((part) => part !== '').map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    version = parts[1] as string;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1] as string;
    version = parts[2] as string;
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  let watchPrefix = false;
  if (rest[0] === 'watch') {
    watchPrefix = true;
    rest = rest.slice(1);
  }
  let namespace = '';
  if (rest[0] === 'namespaces' && rest.length >= 2) {
    namespace = rest[1] as string;
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2] as string)) rest = rest.slice(2);
  }
  const [resource, name, subresource, ...extra] = rest;
  if (!resource || extra.length > 0) return undefined;
  // `/api/v1/namespaces/foo` names the namespace foo itself, not a resource inside it.
  if (resource === 'namespaces' && namespace === name) namespace = '';
  return { group, version, resource, namespace, name, subresource, watchPrefix };
}
