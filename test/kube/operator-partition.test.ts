import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy.ts';
import { renderKubeconfig } from '../support/kube/kubeconfig.ts';
import { kubectlFor, type Kubectl } from '../support/kube/kubectl.ts';
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
  let kubectl: Kubectl;
  let taskId: string;
  const kubectlOk = async (args: string[], input?: string): Promise<string> => {
    const result = await kubectl.run(args, input === undefined ? {} : { input });
    assert.equal(result.code, 0, `kubectl ${args.join(' ')}: ${result.stderr}`);
    return result.stdout;
  };
  /** the Events of st/gap with a reason, counts summed (an aggregated Event counts every occurrence) */
  const eventCount = async (reason: string): Promise<number> => {
    const items = JSON.parse(await kubectlOk(['get', 'events', '--field-selector', 'involvedObject.name=gap', '-o', 'json'])).items as Array<{ reason: string; count?: number }>;
    return items.filter((e) => e.reason === reason).reduce((sum, e) => sum + (e.count ?? 1), 0);
  };
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
    kubectl = kubectlFor(kube);
    await kubectlOk(['apply', '-f', 'crds/']);
    await waitFor(async () => (await kubectl.run(['get', 'st'])).code === 0, 15_000, 200, 'the CRDs to be served');
    await kubectlOk(['apply', '-f', '-'], 'apiVersion: scheduling.hourglass.dev/v1alpha1\nkind: ScheduledTask\nmetadata: { name: gap }\nspec: { type: shell, shell: { command: ["false"] } }\n');
    const url = new URL(kube.url);
    proxy = await startFaultProxy({ host: url.hostname, port: Number(url.port) });
    const env = backendEnv('postgres', world.db.url, SERVICE_URLS);
    behindProxy = startProcess({ name: 'op-proxied', args: ['--mode', 'operator', '--config', config('proxied', renderKubeconfig(`http://${proxy.address}`, 'default'))], env });
    await behindProxy.waitForLine(/"msg":"leader work started"/, 30_000);
    direct = startProcess({ name: 'op-direct', args: ['--mode', 'operator', '--config', config('direct', kube.kubeconfig('default'))], env });
    await direct.waitForLine(/operator started/, 30_000);
    taskId = await waitFor(async () => JSON.parse(await kubectlOk(['get', 'st', 'gap', '-o', 'json'])).status?.taskId as string | undefined, 15_000, 200, 'st/gap to be registered');
  }));
  after(async () => {
    kubectl?.cleanup();
    await proxy?.close();
    await kube?.close();
  });

  const addRun = async (status: string): Promise<string> => {
    const { rows } = await world.sql.query<{ id: string }>(
      `INSERT INTO hg_runs (task_id, scheduled_time, trigger, status, pool, started_at) VALUES ($1, now(), 'manual', $2, 'default', now()) RETURNING id::text AS id`,
      [taskId, status],
    );
    return rows[0]!.id;
  };
  const fail = (id: string) => world.sql.query(`UPDATE hg_runs SET status = 'failed', finished_at = now(), error = 'exit code 1' WHERE id = $1`, [id]);

  it('a leader whose API connection stops forwarding steps down before the standby takes over', tracked(flag, async (t: TestContext) => {
    // a run the leader has seen start: its cursor is past the run's creation
    const before = await addRun('running');
    await waitFor(async () => (await eventCount('SuccessfulCreate')) === 1, 15_000, 200, 'the leader to report the run');
    proxy.stall();
    const stalledAt = Date.now();
    // both finish while the leader is cut off: only a cursor that outlives it can report them
    await fail(before);
    await fail(await addRun('running'));
    const stepDown = JSON.parse(await behindProxy.waitForLine(/"msg":"no longer the operator leader/, 15_000)) as { leadingUntil: number };
    const takeover = JSON.parse(await direct.waitForLine(/"msg":"leader work started"/, 15_000)) as { leadingFrom: number };
    t.diagnostic(`blackholed at +0: old leader stopped at +${stepDown.leadingUntil - stalledAt} ms, standby led at +${takeover.leadingFrom - stalledAt} ms (lease ${LEASE.duration} s, renew deadline ${LEASE.renewDeadline} s)`);
    assert.ok(stepDown.leadingUntil - stalledAt <= LEASE.renewDeadline * 1000 + 1000, 'the blackholed leader stops within its renew deadline (+ stop time)');
    assert.ok(stepDown.leadingUntil < takeover.leadingFrom, 'the old leader stopped before the new one started');
    assert.deepEqual(overlaps(allTerms()), []);
  }));

  it('the new leader reports the runs that finished while the old one was cut off, from the saved cursor', tracked(flag, async () => {
    await direct.waitForLine(/following runs from where the last leader stopped/, 10_000);
    await waitFor(async () => (await eventCount('SawCompletedJob')) === 2, 15_000, 200, 'two SawCompletedJob occurrences (one aggregated Event)');
    const items = JSON.parse(await kubectlOk(['get', 'events', '--field-selector', 'involvedObject.name=gap', '-o', 'json'])).items as Array<{ reason: string; type: string; count: number; message: string }>;
    const completed = items.filter((e) => e.reason === 'SawCompletedJob');
    assert.equal(completed.length, 1, 'the two failures are one Event with count 2');
    assert.deepEqual([completed[0]!.type, completed[0]!.count, completed[0]!.message], ['Warning', 2, 'Saw completed run, status: Failed']);
    assert.equal(await eventCount('SuccessfulCreate'), 2, 'the run created during the gap is reported too, the one before it not twice');
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
