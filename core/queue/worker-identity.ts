/**
 * Two processes started with one worker id would overwrite each other's row and held list. Each consumer
 * process therefore has an incarnation (a random id stamped on its heartbeats, guarded-consumer.ts); the core
 * keeps the first live one and tells the other to drain with a drain addressed to its incarnation only.
 */
import { createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from './run-signing.ts';

const SEPARATOR = '#incarnation=';

/** The target of publishDrain() that reaches one incarnation of a worker id only. */
export function drainTarget(workerId: string, incarnation?: string): string {
  return incarnation === undefined ? workerId : `${workerId}${SEPARATOR}${incarnation}`;
}

/** The worker id and, when the drain is addressed to one incarnation, that incarnation. */
export function parseDrainTarget(target: string): { workerId: string; incarnation?: string } {
  const at = target.lastIndexOf(SEPARATOR);
  if (at < 0) return { workerId: target };
  return { workerId: target.slice(0, at), incarnation: target.slice(at + SEPARATOR.length) };
}

/**
 * A worker process's own key (issue 13, item 2): made at start, its public half sent in every heartbeat.
 * The core records the key with the incarnation that first registers a worker id (while that process is
 * alive no other may take the id), then accepts that worker's heartbeats and outcomes only with a valid
 * signature: whoever can write to the status stream cannot speak for a live worker.
 */
export class WorkerKey {
  readonly #secret: KeyObject;
  readonly publicKey: string;

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    this.#secret = privateKey;
    this.publicKey = publicKey.export({ format: 'der', type: 'spki' }).toString('base64');
  }

  sign<T extends { sig?: string }>(event: T): T {
    return { ...event, sig: sign(null, eventBytes(event), this.#secret).toString('base64') };
  }
}

function eventBytes(event: { sig?: string }): Buffer {
  const { sig: _ignored, ...rest } = event;
  return Buffer.from(canonicalJson(rest), 'utf8');
}

/** true when `event` carries a valid signature by `publicKey` (base64 SPKI DER) */
export function verifyWorkerSignature(event: { sig?: string }, publicKey: string): boolean {
  if (!event.sig) return false;
  try {
    const key = createPublicKey({ key: Buffer.from(publicKey, 'base64'), format: 'der', type: 'spki' });
    return verify(null, eventBytes(event), key, Buffer.from(event.sig, 'base64'));
  } catch {
    return false;
  }
}
