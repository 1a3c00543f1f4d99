import type { Db, Queryable } from '../../core/store/db.ts';

/**
 * Opens a transaction, runs `inside` in it (a fence, say) and keeps it open: resolves once `inside` ran,
 * with `release`, which lets the transaction commit and waits for it. Rejects if `inside` fails.
 */
export async function holdTransaction(db: Db, inside: (tx: Queryable) => Promise<unknown>): Promise<{ release(): Promise<void> }> {
  let letGo!: () => void;
  const held = new Promise<void>((resolve) => (letGo = resolve));
  let entered!: () => void;
  const ready = new Promise<void>((resolve) => (entered = resolve));
  const done = db.transaction(async (tx) => {
    await inside(tx);
    entered();
    await held;
  });
  await Promise.race([ready, done]);
  return {
    async release() {
      letGo();
      await done;
    },
  };
}
