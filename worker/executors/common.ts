import { StringDecoder } from 'node:string_decoder';
import type { z } from 'zod';
import type { ExecutionContext } from './types.ts';

/** Formats a zod failure as `block.field: message; ...` so the run's error names the field. */
export function describeSpecError(block: string, error: z.ZodError): string {
  const parts = error.issues.map((issue) => {
    const path = [block, ...issue.path.map((p) => String(p))].join('.');
    return `${path}: ${issue.message}`;
  });
  return `invalid ${block} spec: ${parts.join('; ')}`;
}

/** Parses an executor block; returns the value or an error string naming the field. */
export function parseBlock<T extends z.ZodType>(
  schema: T,
  block: string,
  value: unknown,
): { ok: true; value: z.output<T> } | { ok: false; error: string } {
  if (value === undefined || value === null) return { ok: false, error: `invalid ${block} spec: ${block}: is required` };
  const parsed = schema.safeParse(value);
  if (!parsed.success) return { ok: false, error: describeSpecError(block, parsed.error) };
  return { ok: true, value: parsed.data };
}

/** Seconds for messages: 300000 -> "300s", 250 -> "0.25s". */
export function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Collects output from one or more streams into one string in arrival order, keeping at most
 * `limitBytes` bytes (the head). Past the cap nothing more is buffered (memory stays bounded);
 * the bytes are only counted, for the truncation marker. Each stream has its own UTF-8 decoder,
 * so a character split across chunks is never mangled, and the kept head is cut at a character
 * boundary. Live output goes to `onOutput` (only what is kept, plus one notice when the cap is hit).
 */
export class CappedOutput {
  readonly #limit: number;
  readonly #onOutput: ExecutionContext['onOutput'];
  readonly #decoders = new Map<'stdout' | 'stderr', StringDecoder>();
  readonly #parts: string[] = [];
  #keptBytes = 0;
  #totalBytes = 0;
  #truncated = false;
  #liveFailed = false;

  constructor(limitBytes: number, onOutput?: ExecutionContext['onOutput']) {
    this.#limit = Math.max(0, Math.floor(Number.isFinite(limitBytes) ? limitBytes : 0));
    this.#onOutput = onOutput;
  }

  /** true once the cap is reached: callers that can stop reading (HTTP) may do so. */
  get truncated(): boolean {
    return this.#truncated;
  }

  get totalBytes(): number {
    return this.#totalBytes;
  }

  write(stream: 'stdout' | 'stderr', chunk: Buffer | Uint8Array): void {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.#totalBytes += buf.byteLength;
    if (this.#truncated) return;
    const room = this.#limit - this.#keptBytes;
    const take = buf.byteLength <= room ? buf : buf.subarray(0, room);
    const text = this.#decoder(stream).write(take);
    this.#keptBytes += take.byteLength;
    if (text.length > 0) this.#push(stream, text);
    if (take.byteLength < buf.byteLength) {
      this.#truncated = true;
      this.#live(stream, '\n[output truncated: further output is dropped]\n');
    }
  }

  /**
   * The kept output plus, if truncated, the marker. With `totalKnown: false` (a reader that stopped
   * reading at the cap, like the HTTP body) the marker gives the cap instead of a dropped count.
   */
  finish(options: { totalKnown?: boolean } = {}): { output: string; outputTruncated: boolean } {
    if (!this.#truncated) {
      for (const [stream, decoder] of this.#decoders) {
        const rest = decoder.end();
        if (rest.length > 0) this.#push(stream, rest);
      }
    }
    const head = this.#parts.join('');
    if (!this.#truncated) return { output: head, outputTruncated: false };
    if (options.totalKnown === false) {
      return { output: `${head}\n[output truncated: more than ${this.#limit} bytes]`, outputTruncated: true };
    }
    const dropped = this.#totalBytes - Buffer.byteLength(head);
    return { output: `${head}\n[output truncated: ${dropped} bytes dropped]`, outputTruncated: true };
  }

  #decoder(stream: 'stdout' | 'stderr'): StringDecoder {
    let decoder = this.#decoders.get(stream);
    if (!decoder) {
      decoder = new StringDecoder('utf8');
      this.#decoders.set(stream, decoder);
    }
    return decoder;
  }

  #push(stream: 'stdout' | 'stderr', text: string): void {
    // Postgres text cannot hold NUL: binary output (find -print0, printf '\0') is kept readable as U+2400
    const safe = text.includes('\u0000') ? text.replaceAll('\u0000', '\u2400') : text;
    this.#parts.push(safe);
    this.#live(stream, safe);
  }

  #live(stream: 'stdout' | 'stderr', text: string): void {
    if (!this.#onOutput || this.#liveFailed) return;
    try {
      this.#onOutput(stream, text);
    } catch {
      // a broken log sink must not break the run; stop calling it
      this.#liveFailed = true;
    }
  }
}
