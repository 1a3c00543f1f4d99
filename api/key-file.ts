import { readFileSync } from 'node:fs';
import { ApiKeysSchema, MIN_API_KEY_LENGTH, RELAXED_ENVIRONMENTS, type Config } from '../core/config/index.ts';
import { problemsFromZod, ValidationError } from '../core/model/index.ts';
import type { KeyGrant } from './auth.ts';

/**
 * The API keys in effect: api.auth.api_keys (API_KEYS) plus the keys of api.auth.api_keys_file. The file
 * is read again at every reload-config, so a key removed from a mounted Secret is revoked (with every
 * token minted from it) without a restart; an unreadable or invalid file refuses the start or reload.
 */
export function effectiveApiKeys(auth: Config['api']['auth'], environment = 'development'): Record<string, KeyGrant> {
  if (!auth.api_keys_file) return auth.api_keys;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(auth.api_keys_file, 'utf8'));
  } catch (error) {
    throw new ValidationError('invalid configuration', [{ path: 'api.auth.api_keys_file', message: `cannot read ${auth.api_keys_file} as JSON: ${(error as Error).message}` }]);
  }
  const parsed = ApiKeysSchema.safeParse(raw);
  if (!parsed.success) throw new ValidationError('invalid configuration', problemsFromZod(parsed.error, 'api.auth.api_keys_file'));
  const short = Object.keys(parsed.data).filter((key) => key.length < MIN_API_KEY_LENGTH).length;
  if (short > 0 && !RELAXED_ENVIRONMENTS.includes(environment)) {
    throw new ValidationError('invalid configuration', [{ path: 'api.auth.api_keys_file', message: `${short} API key(s) shorter than ${MIN_API_KEY_LENGTH} characters; the ${environment} environment needs keys that cannot be guessed` }]);
  }
  return { ...auth.api_keys, ...parsed.data };
}
