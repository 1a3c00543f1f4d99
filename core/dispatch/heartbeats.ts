/**
 * What the core does with workers' heartbeats: records them (refusing a second process that uses a worker
 * id already alive under another incarnation), fails attempts a worker says it gave up claiming, and cancels
 * attempts a worker still runs although the core settled them without it.
 *
 * What it never does: fail an attempt because a heartbeat does not list it. The outcome of that attempt may
 * be delayed behind the heartbeat (another stream, a retried batch, a broker that reorders), so the absence
 * proves nothing (issue 12, defect 1). Only the worker's own word (`abandoned`, claim-ledger.ts) or its
 * death (reaper.ts) lets the core fail an attempt on its behalf.
 */
import type { StatusEvent } from '../queue/port.ts';
import { drainTarget, verifyWorkerSignature } from '../queue/worker-identity.ts';
import { attemptsSettledWithoutTheirWorker, type DeadLetter, insertDeadLetters, recordWorkerHeartbeats, runningAttemptsOfWorkers, toCancelTarget, workerIdentities } from '../store/index.ts';
import type { CoreContext } from './context.ts';
import { finishAttempts } from './outcomes.ts';
import { livenessNow } from './receiving.ts';

type Heartbeat = Extract<StatusEvent, { kind: 'heartbeat' }>;

const RUN_ID_RE = /^\d{1,18}$/;
const ATTEMPT_RE = /^\d{1,9}$/;

export async function applyHeartbeats(ctx: CoreContext, all: Heartbeat[]): Promise<void> {
  const now = await livenessNow(ctx);
  const beats = await authentic(ctx, all, now);
  if (beats.length === 0) return;
  const refused = await recordWorkerHeartbeats(ctx.db, beats, now);
  const accepted = beats.filter((b) => !refused.has(b.workerId));
  if (refused.size > 0) await refuseDuplicates(ctx, beats.filter((b) => refused.has(b.workerId)), now);
  await failAbandoned(ctx, accepted, now);
  await cancelSupersededAttempts(ctx, accepted);
}

/**
 * Heartbeats that may speak for their worker: one from the incarnation on record must be signed with the key
 * that incarnation registered (a forged heartbeat could otherwise claim abandoned attempts and have them
 * failed and run again); one that carries a key must be signed with it. Others are dead-lettered.
 */
async function authentic(ctx: CoreContext, beats: Heartbeat[], now: Date): Promise<Heartbeat[]> {
  const known = await workerIdentities(ctx.db, beats.map((b) => b.workerId), now);
  const refused: DeadLetter[] = [];
  const ok = beats.filter((beat) => {
    const row = known.get(beat.workerId);
    // the live process on record speaks only with its key; another process may present its own key (and is
    // then refused as a duplicate while the first lives); an unsigned heartbeat only for a worker with no key
    const registered = row?.live && row.public_key ? row.public_key : undefined;
    const sameProcess = registered !== undefined && row?.incarnation === (beat.incarnation ?? null);
    const key = sameProcess ? registered : beat.workerKey;
    if (key === undefined ? registered === undefined : verifyWorkerSignature(beat, key)) return true;
    refused.push({ source: 'status', kind: 'heartbeat', workerId: beat.workerId, reason: `heartbeat of worker "${beat.workerId}" is not signed with its key`, payload: JSON.stringify(beat) });
    return false;
  });
  if (refused.length > 0) {
    for (const l of refused) ctx.logger.warn({ workerId: l.workerId, reason: l.reason }, 'dead-lettered');
    await insertDeadLetters(ctx.db, refused, now);
  }
  return ok;
}

/**
 * A second process heartbeating under a worker id that another live process holds would overwrite its held
 * list and could take attempts as if it were that worker: it is told to drain (a drain addressed to its
 * incarnation only, guarded-consumer.ts) and its heartbeats are set aside.
 */
async function refuseDuplicates(ctx: CoreContext, beats: Heartbeat[], now: Date): Promise<void> {
  for (const beat of beats) {
    ctx.logger.error({ workerId: beat.workerId, hostname: beat.hostname, incarnation: beat.incarnation }, 'a second worker process uses a worker id that a live worker holds; telling it to drain');
    await ctx.queue.publishDrain(drainTarget(beat.workerId, beat.incarnation));
  }
  await insertDeadLetters(
    ctx.db,
    beats.map((b) => ({ source: 'status' as const, kind: 'heartbeat', workerId: b.workerId, reason: `worker id "${b.workerId}" is held by another live process (incarnation differs)`, payload: JSON.stringify(b) })),
    now,
  );
}

function attemptsOf(list: string[] | undefined): Array<[string, number]> {
  return (list ?? []).flatMap((entry) => {
    const [id, attempt] = entry.split('/');
    return id && attempt && RUN_ID_RE.test(id) && ATTEMPT_RE.test(attempt) ? [[id, Number(attempt)] as [string, number]] : [];
  });
}

/** Attempts granted to a worker that says it gave up their claim: it will never run them, so fail them now. */
async function failAbandoned(ctx: CoreContext, beats: Heartbeat[], now: Date): Promise<void> {
  const pairs = beats.flatMap((b) => attemptsOf(b.abandoned).map(([id, attempt]) => ({ id, attempt, workerId: b.workerId })));
  if (pairs.length === 0) return;
  const rows = await runningAttemptsOfWorkers(ctx.db, pairs);
  if (rows.length === 0) return;
  ctx.logger.warn({ runs: rows.map((r) => `${r.id}/${r.attempt}`) }, 'workers gave up claims that were granted to them; failing those attempts');
  await finishAttempts(
    ctx,
    rows.map((r) => ({
      runId: r.id,
      attempt: r.attempt,
      status: 'failed' as const,
      at: now,
      error: `worker ${r.worker_id} never received its claim of this attempt (the answer was lost) and did not run it`,
      byCore: true,
      expectWorkerId: r.worker_id,
    })),
  );
}

/**
 * A worker declared dead that comes back (a long pause, a partition) still runs attempts the core has
 * already failed and retried elsewhere: it is told to stop them (that attempt only: cancelEntry), so an
 * attempt does not run on twice. An attempt settled by this worker's own outcome is not one of them: the
 * heartbeat was built before the outcome was delivered and is merely late (it travels on its own lane).
 */
async function cancelSupersededAttempts(ctx: CoreContext, beats: Heartbeat[]): Promise<void> {
  const held = beats.flatMap((b) => attemptsOf(b.held).map(([id, attempt]) => ({ id, attempt, workerId: b.workerId })));
  if (held.length === 0) return;
  const rows = await attemptsSettledWithoutTheirWorker(ctx.db, held);
  if (rows.length === 0) return;
  ctx.logger.warn({ runs: rows.map((r) => `${r.id}/${r.attempt}`) }, 'a worker still runs attempts that were settled without it; cancelling them');
  await ctx.queue.publishCancel(rows.map(toCancelTarget));
}
