import { notifyCancel } from '../codec.ts';
import type { ConsumerState } from './consumer-state.ts';
import type { Names } from './topology.ts';

/**
 * A worker's cancel handlers, fed by one exclusive auto-delete queue bound to the cancel exchange. The
 * queue dies with the connection, so it is declared again on each generation that has handlers.
 */
export class CancelListener {
  readonly #names: Names;
  readonly handlers = new Set<(runIds: string[]) => void>();

  constructor(names: Names) {
    this.#names = names;
  }

  /** Starts consuming on this generation, at most once. */
  listen(state: ConsumerState): Promise<void> {
    state.cancel ??= (async () => {
      const ch = await state.gen.channel();
      const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
      await ch.bindQueue(queue, this.#names.cancel, '');
      await ch.consume(
        queue,
        (msg) => {
          if (msg) notifyCancel(msg.content, this.handlers);
        },
        { noAck: true },
      );
    })();
    const started = state.cancel;
    started.catch(() => {
      if (state.cancel === started) state.cancel = undefined;
    });
    return started;
  }
}
