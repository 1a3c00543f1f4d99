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

export function createLogger(options: { level: LogLevel; format: 'json' | 'pretty'; fields?: Record<string, string>; destination?: NodeJS.WritableStream }): Logger {
  const base = { service: 'hourglass', ...options.fields };
  const redact = { paths: REDACTED_PATHS, censor: '***' };
  if (options.format === 'pretty') {
    return pino({
      level: options.level,
      base,
      redact,
      transport: { target: 'pino-pretty', options: { colorize: process.stdout.isTTY, ignore: 'pid,hostname,service', translateTime: 'SYS:HH:MM:ss.l' } },
    });
  }
  return options.destination ? pino({ level: options.level, base, redact }, options.destination as never) : pino({ level: options.level, base, redact });
}
