/**
 * The claim ledger's promise: an attempt a worker reports abandoned never runs on that worker (the core fails
 * it on that word). Found by the simulator with lost claim answers (seeds 2007 and 2014 of 2000-2039): a
 * second copy of the attempt was granted and run while, or after, another copy's claim failed and was
 * reported abandoned; the core failed a run that then succeeded.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClaimLedger, ClaimNotAsked } from '../../core/queue/claim-ledger.ts';
import type { Delivery, RunMessage } from '../../core/queue/port.ts';

const message = { runId: '7', attempt: 1 } as RunMessage;

/** a delivery whose claim answers as the test says, when it says; every call is counted */
function copy(answer: () => Promise<boolean>): Delivery & { calls: number } {
  const delivery = {
    message,
    calls: 0,
    claim: async () => {
      delivery.calls++;
      return answer();
    },
  };
  return delivery;
}

function deferred(): { promise: Promise<boolean>; resolve: (v: boolean) => void; reject: (e: Error) => void } {
  let resolve!: (v: boolean) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<boolean>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe('claim ledger', () => {
  it('refuses a second copy while the first copy’s claim is in flight, and abandons the attempt when that claim fails', async () => {
    const ledger = new ClaimLedger();
    const first = deferred();
    const pending = ledger.guard(copy(() => first.promise)).claim('w');
    const second = copy(async () => true);
    assert.equal(await ledger.guard(second).claim('w'), false, 'the second copy must not run while the first claim may yet be given up');
    assert.equal(second.calls, 1, 'the second copy is still settled with the broker');
    first.reject(new Error('answer lost'));
    await assert.rejects(pending, /answer lost/);
    assert.deepEqual(ledger.list(), ['7/1']);
    assert.equal(await ledger.guard(copy(async () => true)).claim('w'), false, 'an abandoned attempt never runs here');
  });

  it('a copy of an attempt granted here is refused, and the failure of its claim abandons nothing', async () => {
    const ledger = new ClaimLedger();
    assert.equal(await ledger.guard(copy(async () => true)).claim('w'), true);
    const again = copy(async () => Promise.reject(new Error('decision failed')));
    assert.equal(await ledger.guard(again).claim('w'), false);
    assert.equal(again.calls, 1);
    assert.deepEqual(ledger.list(), [], 'the attempt runs here: reporting it abandoned would have the core fail a run that goes on');
  });

  it('a claim that never left the worker is not abandoned', async () => {
    const ledger = new ClaimLedger();
    await assert.rejects(ledger.guard(copy(async () => Promise.reject(new ClaimNotAsked('no link')))).claim('w'));
    assert.deepEqual(ledger.list(), []);
    assert.equal(await ledger.guard(copy(async () => true)).claim('w'), true, 'the next copy may be claimed');
  });
});
