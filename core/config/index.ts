export { loadConfig, listEnvironments, OVERLAY_FILES, type LoadConfigOptions, type LoadedConfig } from './load.ts';
export { ConfigSchema, ApiKeysSchema, PERMISSIONS, QUEUE_TYPES, LOG_LEVELS, LOG_FORMATS, defaultWorkerId, type Config, type ConfigInput } from './schema.ts';
export {
  redactConfig, SECRET_ENV_NAMES, isSecretEnvName, REDACTED, resolveSpecSecrets, readSecretRef, secretsDirectory, DEFAULT_SECRETS_DIR,
  redactTaskSecrets, restoreRedactedSecrets, isSecretHeaderName,
} from './secrets.ts';
export { NO_EFFECT_KEYS, type NoEffectKey } from './no-effect.ts';
export { ENV_OVERRIDES, type EnvOverride } from './env.ts';
export { parseBindAddress, redactUrl, type BindAddress } from './fields.ts';
export { defaultConfigDir } from './paths.ts';
export { RELAXED_ENVIRONMENTS, MIN_JWT_SECRET_LENGTH, MIN_API_KEY_LENGTH } from './rules.ts';
export { renderBaseToml } from './reference.ts';
