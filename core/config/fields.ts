import { z } from 'zod';
import { ValidationError } from '../model/errors.ts';

/**
 * Field builders for the config schema. Every value may arrive as a string (from `${VAR}`
 * substitution or an environment variable), so numbers and booleans accept numeric / boolean
 * strings and coerce them; anything else fails with a message that quotes the bad value.
 */

const show = (v: unknown): string => (v === undefined ? 'nothing' : JSON.stringify(v));

function toNumber(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const t = v.trim();
  return t !== '' && Number.isFinite(Number(t)) ? Number(t) : v;
}

const BOOL_WORDS: Record<string, boolean> = { true: true, false: false, yes: true, no: false, on: true, off: false, '1': true, '0': false };

function toBoolean(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const b = BOOL_WORDS[v.trim().toLowerCase()];
  return b === undefined ? v : b;
}

function intWhat(min: number, max: number | undefined): string {
  if (max !== undefined) return `an integer from ${min} to ${max}`;
  if (min === 1) return 'a positive integer';
  if (min === 0) return 'a non-negative integer';
  return `an integer >= ${min}`;
}

/** An integer key; `min` defaults to 0. */
export function int(def: number, description: string, min = 0, max?: number) {
  const what = intWhat(min, max);
  const err = { error: (iss: { input?: unknown }) => `expected ${what}, got ${show(iss.input)}` };
  let n = z.number(err).int(err).min(min, err);
  if (max !== undefined) n = n.max(max, err);
  return z.preprocess(toNumber, n).default(def).describe(description);
}

/** Like `int` but without a default: the value is inherited from another key (named in the description). */
export function optionalInt(description: string, min = 0) {
  const what = intWhat(min, undefined);
  const err = { error: (iss: { input?: unknown }) => `expected ${what}, got ${show(iss.input)}` };
  return z.preprocess(toNumber, z.number(err).int(err).min(min, err)).optional().describe(description);
}

export function bool(def: boolean, description: string) {
  const b = z.boolean({ error: (iss) => `expected true or false, got ${show(iss.input)}` });
  return z.preprocess(toBoolean, b).default(def).describe(description);
}

export function optionalBool(description: string) {
  const b = z.boolean({ error: (iss) => `expected true or false, got ${show(iss.input)}` });
  return z.preprocess(toBoolean, b).optional().describe(description);
}

export const stringType = () => z.string({ error: (iss) => `expected a string, got ${show(iss.input)}` });

export function str(def: string, description: string) {
  return stringType().default(def).describe(description);
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T, def: T[number], description: string) {
  return z
    .enum(values, { error: (iss) => `expected one of ${values.join(', ')}, got ${show(iss.input)}` })
    .default(def)
    .describe(description);
}

export function stringList(def: string[], description: string) {
  return z.array(stringType(), { error: (iss) => `expected an array of strings, got ${show(iss.input)}` }).default(def).describe(description);
}

export function optionalStringList(description: string) {
  return z.array(stringType(), { error: (iss) => `expected an array of strings, got ${show(iss.input)}` }).optional().describe(description);
}

/** A URL-ish string that must be empty or start with one of `schemes` (e.g. `postgres:`). */
export function urlWithScheme(schemes: readonly string[], description: string) {
  return stringType()
    .refine((s) => s === '' || schemes.some((p) => s.startsWith(`${p}//`)), {
      error: (iss) => `expected an empty string or a ${schemes.map((p) => `${p}//`).join(' or ')} URL, got ${show(redactUrl(String(iss.input)))}`,
    })
    .default('')
    .describe(description);
}

/**
 * Credentials in URLs (anywhere in a text) become `***`: the user info up to the LAST `@` before the
 * query, so a password holding `@` or `/` (`u:p@ss@host`, `u:pa/ss@host`) is hidden whole; a bare
 * user (often a token) too; and query values of secret-looking names (`password=`, `sslpassword=`,
 * `token=`, `api_key=`, `X-Amz-Signature=`...).
 */
export function redactUrl(url: string): string {
  return url
    .replace(/\/\/[^\s/?#@]*:[^\s?#]*@/g, '//***@')
    .replace(/\/\/[^\s/?#@:]+@/g, '//***@')
    .replace(/([?&;][\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|signature|credential)=)[^&#\s]*/gi, '$1***');
}

export interface BindAddress {
  host: string;
  port: number;
}

/** "127.0.0.1:8080", "0.0.0.0:8080", "[::1]:8080", "localhost:8080", ":8080" (all interfaces). */
export function parseBindAddress(address: string): BindAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]*)):(\d{1,5})$/.exec(address.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new ValidationError('invalid bind address', [{ path: '', message: bindAddressMessage(address) }]);
  }
  const host = m[1] ?? (m[2] || '0.0.0.0');
  return { host, port };
}

export const bindAddressMessage = (address: unknown): string =>
  `expected host:port (e.g. "127.0.0.1:8080" or "0.0.0.0:8080"), got ${show(address)}`;
