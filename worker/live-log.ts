import type { Clock } from '../core/clock/index.ts';
import type { RunMessage, StatusEvent } from '../core/queue/port.ts';

/** the most characters in one log event; a longer piece of output is split */
const LOG_CHUNK_CHARS = 8192;
/** room for the truncation marker the executor writes when the output reaches the cap */
const MARKER_SLACK_BYTES = 256;

/**
 * A run's live log. Executors pass on exactly what they keep of the output (CappedOutput), so the log
 * holds what the output holds, up to the same cap and with the same truncation marker (issue 18 item 1:
 * it used to count every chunk as 8 KB and stop after 33 chunks). The byte count here is only a backstop
 * against an executor that does not cap. Each piece is stamped with the time it was read from the task,
 * not the time the core writes it (issue 18 item 19).
 */
export class LiveLog {
  #seq = 0;
  #bytes = 0;
  readonly #message: RunMessage;
  readonly #limitBytes: number;
  readonly #clock: Clock;
  readonly #emit: (event: Extract<StatusEvent, { kind: 'log' }>) => void;

  constructor(message: RunMessage, limitBytes: number, clock: Clock, emit: (event: Extract<StatusEvent, { kind: 'log' }>) => void) {
    this.#message = message;
    this.#limitBytes = limitBytes + MARKER_SLACK_BYTES;
    this.#clock = clock;
    this.#emit = emit;
  }

  write(stream: 'stdout' | 'stderr', text: string): void {
    if (text.length === 0 || this.#bytes >= this.#limitBytes) return;
    const at = new Date(this.#clock.now()).toISOString();
    for (let start = 0; start < text.length && this.#bytes < this.#limitBytes; start += LOG_CHUNK_CHARS) {
      let end = Math.min(text.length, start + LOG_CHUNK_CHARS);
      // never split a surrogate pair between two events
      if (end < text.length && /[\uD800-\uDBFF]/.test(text[end - 1] ?? '')) end--;
      const chunk = text.slice(start, end);
      start = end - LOG_CHUNK_CHARS;
      this.#bytes += Buffer.byteLength(chunk);
      this.#emit({ kind: 'log', runId: this.#message.runId, attempt: this.#message.attempt, seq: this.#seq++, stream, chunk, at });
    }
  }
}
