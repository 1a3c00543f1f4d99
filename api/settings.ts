import type { Config } from '../core/config/index.ts';
import type { TokenSettings } from './jwt.ts';

/** The [api] settings that POST /api/system/reload-config may change without a restart. */
export interface LiveSettings {
  authEnabled: boolean;
  cors: { enabled: boolean; origins: string[]; maxAgeSeconds: number };
  rateLimit: { enabled: boolean; perMinute: number; burst: number };
  tokens: TokenSettings;
}

export function settingsFrom(api: Config['api']): LiveSettings {
  return {
    authEnabled: api.auth.enabled,
    cors: { enabled: api.cors_enabled, origins: [...api.cors_origins], maxAgeSeconds: api.security.cors_max_age_seconds },
    rateLimit: { enabled: api.rate_limiting.enabled, perMinute: api.rate_limiting.max_requests_per_minute, burst: api.rate_limiting.burst_size },
    tokens: { secret: api.auth.jwt_secret, accessHours: api.auth.jwt_expiration_hours, refreshDays: api.auth.refresh_token_expiration_days },
  };
}

/** A bare API (tests that pass no [api] config): no auth, no CORS, no rate limit. */
export const BARE_SETTINGS: LiveSettings = {
  authEnabled: false,
  cors: { enabled: false, origins: [], maxAgeSeconds: 0 },
  rateLimit: { enabled: false, perMinute: 0, burst: 0 },
  tokens: { secret: '', accessHours: 24, refreshDays: 30 },
};

/**
 * Config keys whose new value takes effect at a reload; every other changed key needs a restart.
 * Prefix match on dotted paths.
 */
export const LIVE_KEYS: readonly string[] = [
  'observability.log_level',
  'api.auth.api_keys',
  'api.auth.api_keys_file',
  'api.auth.jwt_secret',
  'api.auth.jwt_expiration_hours',
  'api.auth.refresh_token_expiration_days',
  'api.rate_limiting',
  'api.security.rate_limiting_enabled',
  'api.security.max_requests_per_minute',
  'api.security.burst_size',
  'api.cors_enabled',
  'api.cors_origins',
  'api.security.cors_enabled',
  'api.security.cors_origins',
  'api.security.cors_max_age_seconds',
];

export function isLiveKey(key: string): boolean {
  return LIVE_KEYS.some((live) => key === live || key.startsWith(`${live}.`));
}

/** Tables whose keys are themselves secret: compared as a whole, so a changed path never names a key. */
const OPAQUE_TABLES = new Set(['api.auth.api_keys', 'database.read_replicas']);

/** Dotted paths whose values differ; tables are compared key by key, arrays and scalars as a whole. */
export function changedKeys(before: unknown, after: unknown, prefix = ''): string[] {
  const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isTable(before) && isTable(after) && !OPAQUE_TABLES.has(prefix)) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...keys].sort().flatMap((k) => changedKeys(before[k], after[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(before) === JSON.stringify(after) ? [] : [prefix];
}
