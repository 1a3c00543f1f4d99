/**
 * Deterministic jitter in 0..jitterSeconds*1000 ms: a hash of the task and the scheduled time,
 * so every replica delays the same fire by the same amount and the unique run key still holds.
 */
export function jitterMs(taskId: string, scheduledMs: number, jitterSeconds: number): number {
  const maxMs = Math.floor(jitterSeconds * 1000);
  if (!(maxMs > 0)) return 0;
  const hash = fnv1a(`${taskId}\u0000${scheduledMs}`);
  return Math.floor((hash / 0x1_0000_0000) * (maxMs + 1));
}

/** 32-bit FNV-1a with a final avalanche, so neighbouring times spread over the whole range */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
