import { pino, type Logger } from 'pino';

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** Paths whose values never reach a log line, wherever a secret might travel. */
export const REDACTED_PATHS = [
  'password',
  '*.password',
  'jwt_secret',
  '*.jwt_secret',
  '*.*.jwt_secret',
  'api_keys',
  '*.api_keys',
  '*.*.api_keys',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers["x-api-key"]',
];

export interface LoggerOptions {
  level: LogLevel;
  format: 'json' | 'pretty';
  /** fields on every line (service_name, environment, ...) */
  fields?: Record<string, string>;
  /** a file to append to instead of stdout */
  file?: string;
  destination?: NodeJS.WritableStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = { ...options.fields };
  const redact = { paths: REDACTED_PATHS, censor: '***' };
  if (options.file) {
    return pino({ level: options.level, base, redact }, pino.destination({ dest: options.file, mkdir: true, sync: false }));
  }
  if (options.format === 'pretty') {
    return pino({
      level: options.level,
      base,
      redact,
      transport: { target: 'pino-pretty', options: { colorize: process.stdout.isTTY, ignore: 'pid,hostname,service_name,service_version,environment', translateTime: 'SYS:HH:MM:ss.l' } },
    });
  }
  return options.destination ? pino({ level: options.level, base, redact }, options.destination as never) : pino({ level: options.level, base, redact });
}
