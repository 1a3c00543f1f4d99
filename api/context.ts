import type { Registry } from 'prom-client';
import type { Config } from '../core/config/index.ts';
import type { CoreContext } from '../core/dispatch/context.ts';
import type { AuthFailures } from './auth-failures.ts';
import type { KeyStore } from './auth.ts';
import type { TokenService } from './jwt.ts';
import type { LiveSettings } from './settings.ts';
import type { StreamSlots } from './stream-slots.ts';

/** What the route handlers share: the core, the live settings and the credentials. */
export interface ApiContext {
  core: CoreContext;
  version: string;
  /** the process's mode (all, api, ...), for /api/system/info */
  mode: string;
  startedAt: number;
  /** the whole effective config, when the API runs inside the scheduler (absent in bare tests) */
  config: () => Config | undefined;
  settings: () => LiveSettings;
  keys: KeyStore;
  tokens: TokenService;
  /** failed authentications per client address (also counted by the token endpoints) */
  failures: AuthFailures;
  /** open log streams per client */
  streams: StreamSlots;
  metrics: Registry;
  /** api.metrics_require_auth: /metrics needs SystemRead instead of nothing */
  metricsRequireAuth: boolean;
  /** a worker silent this long counts as DOWN (dispatcher.worker_timeout_seconds) */
  workerTimeoutSeconds: number;
  /** whether this process holds the dispatcher leadership; undefined when it runs no dispatcher */
  isLeader?: () => boolean;
  /** re-reads the config with the same files and environment; absent when the API was built without one */
  reload?: () => Promise<ReloadResult>;
}

export interface ReloadResult {
  changed: string[];
  needsRestart: string[];
}
