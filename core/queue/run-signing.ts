/**
 * Run messages signed by the core (issue 13, item 2): whoever can write to the broker cannot make a worker
 * run anything, because a worker runs only a message that carries a valid Ed25519 signature of the core.
 * The core holds the secret key; workers hold only the public key, so a worker (or a task's process on it,
 * or anyone with the broker's password) can verify but never produce a signature.
 *
 * The signature covers every field of the message (the spec the worker runs, the run, attempt, pool and
 * timeout), serialised canonically (keys sorted at every level), so nothing in it can be changed in transit.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import type { RunMessage } from './port.ts';

export interface SigningKeys {
  /** present where run messages are made (core, API, dispatcher) */
  secret?: KeyObject;
  /** present where they are run (workers) */
  public?: KeyObject;
}

/** JSON with object keys sorted at every level: the same message always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function signedBytes(message: RunMessage): Buffer {
  const { signature: _ignored, ...rest } = message;
  return Buffer.from(canonicalJson(rest), 'utf8');
}

export function signRunMessage(message: RunMessage, secret: KeyObject): RunMessage {
  return { ...message, signature: sign(null, signedBytes(message), secret).toString('base64') };
}

/** Why this message must not run, or undefined when its signature is the core's. */
export function verifyRunMessage(message: RunMessage, publicKey: KeyObject): string | undefined {
  if (!message.signature) return 'run message is not signed';
  let valid: boolean;
  try {
    valid = verify(null, signedBytes(message), publicKey, Buffer.from(message.signature, 'base64'));
  } catch (error) {
    return `run message signature unreadable: ${(error as Error).message}`;
  }
  return valid ? undefined : 'run message signature does not verify: not made by this installation\'s core, or changed in transit';
}

/**
 * A key from configuration: PEM text, or the base64 of its DER (PKCS#8 for the secret key, SPKI for the
 * public one), which fits in an environment variable. The public key is derived from the secret one when
 * only that is given.
 */
export function loadSigningKeys(input: { secretKey?: string; publicKey?: string }): SigningKeys {
  const keys: SigningKeys = {};
  if (input.secretKey) {
    keys.secret = parseKey(input.secretKey, 'private');
    keys.public = createPublicKey(keys.secret);
  }
  if (input.publicKey) keys.public = parseKey(input.publicKey, 'public');
  for (const [name, key] of Object.entries(keys)) {
    if (key && key.asymmetricKeyType !== 'ed25519') throw new Error(`message_queue.signing ${name} key must be an Ed25519 key, got ${key.asymmetricKeyType ?? 'unknown'}`);
  }
  return keys;
}

function parseKey(text: string, kind: 'private' | 'public'): KeyObject {
  const trimmed = text.trim();
  try {
    if (trimmed.startsWith('-----BEGIN')) return kind === 'private' ? createPrivateKey({ key: trimmed, format: 'pem' }) : createPublicKey({ key: trimmed, format: 'pem' });
    const der = Buffer.from(trimmed, 'base64');
    return kind === 'private' ? createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }) : createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch (error) {
    throw new Error(`message_queue.signing ${kind === 'private' ? 'secret_key' : 'public_key'}: not a PEM or base64 DER Ed25519 key (${(error as Error).message})`, { cause: error });
  }
}

/** A fresh key pair, for the embedded default (one process both signs and verifies) and for tests. */
export function generateSigningKeys(): Required<SigningKeys> {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { secret: privateKey, public: publicKey };
}

/** The key pair as configuration values (base64 DER), as `scheduler-cli`-style tooling would print them. */
export function exportSigningKeys(keys: Required<SigningKeys>): { secretKey: string; publicKey: string } {
  return {
    secretKey: keys.secret.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
    publicKey: keys.public.export({ format: 'der', type: 'spki' }).toString('base64'),
  };
}
