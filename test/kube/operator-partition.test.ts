import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { renderKubeconfig } from '../support/kube/kubeconfig.ts';
import { startKubeApiServer, type KubeApiServer } from '../support/kube/server.ts';
import { backendEnv, sleep, startProcess, tracked, useE2eWorld, waitFor, writeTestConfig, type FailureFlag, type Proc } from '../support/processes.ts';
import { SERVICE_URLS, skipUnless, uniqueNamespace } from '../support/services.ts';
import { leadingTerms, overlaps, type Term } from '../support/kube/leader-terms.ts';

/**
 * Operator leadership under a partition: two operator processes on one Lease, the first one's API
 * connection through a TCP proxy that can stop forwarding without closing (no RST, no FIN: a blackhole).
 * Each replica logs every term it led (wall-clock start and end of its leader work); no two may intersect.
 */

const LEASE = { duration: 4, renewDeadline: 3, retry: 1 };

describe('operator leadership under a blackholed API connection', { skip: await skipUnless('postgres'), timeout: 120_000 }, () => {
  const flag: FailureFlag = { failed: false };
  const world = useE2eWorld(flag);
  let kube: KubeApiServer;
  let proxy: FaultProxy;
  let behindProxy: Proc;
  let direct: Proc;
  const allTerms = (): Term[] => [...leadingTerms(behindProxy), ...leadingTerms(direct)];

  const config = (name: string, kubeconfigText: string): string => {
    const kubeconfig = path.join(world.tmp.dir, `kubeconfig-${name}`);
    writeFileSync(kubeconfig, kubeconfigText, { mode: 0o600 });
    return writeTestConfig(world.tmp.dir, uniqueNamespace(`part-${name}`), {
      workerEnabled: false,
      extra: [
        '[operator]',
        `kubeconfig = "${kubeconfig}"`,
        'namespaces = ["default"]',
        'bind_address = "127.0.0.1:0"',
        'lease_namespace = "default"',
        `identity = "${name}"`,
        `lease_duration_seconds = ${LEASE.duration}`,
        `renew_deadline_seconds = ${LEASE.renewDeadline}`,
        `retry_period_seconds = ${LEASE.retry}`,
        'request_timeout_seconds = 2',
        'run_dispatcher = false',
        'run_poll_interval_ms = 250',
      ].join('\n'),
    });
  };

  before(tracked(flag, async () => {
    kube = await startKubeApiServer({ log: () => undefined });
    const url = new URL(kube.url);
    proxy = await startFaultProxy({ host: url.hostname, port: Number(url.port) });
    const env = backendEnv('postgres', world.db.url, SERVICE_URLS);
    behindProxy = startProcess({ name: 'op-proxied', args: ['--mode', 'operator', '--config', config('proxied', renderKubeconfig(`http://${proxy.address}`, 'default'))], env });
    await behindProxy.waitForLine(/"msg":"leader work started"/, 30_000);
    direct = startProcess({ name: 'op-direct', args: ['--mode', 'operator', '--config', config('direct', kube.kubeconfig('default'))], env });
    await direct.waitForLine(/operator started/, 30_000);
  }));
  after(async () => {
    await proxy?.close();
    await kube?.close();
  });

  it('a leader whose API connection stops forwarding steps down before the standby takes over', tracked(flag, async (t: TestContext) => {
    // the standby must have seen at least one renew of the current record before the partition
    await sleep(LEASE.retry * 1000 + 200);
    proxy.stall();
    const stalledAt = Date.now();
    const stepDown = JSON.parse(await behindProxy.waitForLine(/"msg":"no longer the operator leader/, 15_000)) as { leadingUntil: number };
    const takeover = JSON.parse(await direct.waitForLine(/"msg":"leader work started"/, 15_000)) as { leadingFrom: number };
    t.diagnostic(`blackholed at +0: old leader stopped at +${stepDown.leadingUntil - stalledAt} ms, standby led at +${takeover.leadingFrom - stalledAt} ms (lease ${LEASE.duration} s, renew deadline ${LEASE.renewDeadline} s)`);
    assert.ok(stepDown.leadingUntil - stalledAt <= LEASE.renewDeadline * 1000 + 500, 'the blackholed leader stops within its renew deadline (+ stop time)');
    assert.ok(stepDown.leadingUntil < takeover.leadingFrom, 'the old leader stopped before the new one started');
    assert.deepEqual(overlaps(allTerms()), []);
  }));

  it('once the connection forwards again, the old leader stays a standby while the new one renews', tracked(flag, async () => {
    proxy.restore();
    // an absence is asserted over a window: more than a whole lease duration while the old leader retries
    await sleep((LEASE.duration + LEASE.retry) * 1000);
    assert.equal(leadingTerms(behindProxy).length, 1, 'the old leader did not lead again');
    assert.equal(leadingTerms(direct).filter((term) => term.until === undefined).length, 1, 'the new leader still leads');
    assert.deepEqual(overlaps(allTerms()), []);
  }));

  it('after kill -9 of the leader, the standby leads within leaseDuration + retryPeriod', tracked(flag, async (t: TestContext) => {
    direct.kill('SIGKILL');
    await direct.waitForExit();
    const killedAt = Date.now();
    const second = await waitFor(() => leadingTerms(behindProxy)[1], 20_000, 20, 'the standby to lead again');
    const tookMs = second.from - killedAt;
    t.diagnostic(`leader SIGKILLed -> standby leads after ${tookMs} ms (bound: lease ${LEASE.duration} s + retry ${LEASE.retry} s)`);
    assert.ok(tookMs <= (LEASE.duration + LEASE.retry) * 1000 + 500, `takeover took ${tookMs} ms`);
    // the killed replica's open term ends at its death, which was before the takeover
    const terms = [...leadingTerms(behindProxy), ...leadingTerms(direct).map((term) => ({ ...term, until: term.until ?? killedAt }))];
    assert.deepEqual(overlaps(terms), []);
  }));
});
