import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { TaskInput, splitTaskInput } from '../../core/model/index.ts';
import { en } from '../../console/src/i18n/en.ts';
import { zh } from '../../console/src/i18n/zh.ts';
import { tracked, useE2eWorld, waitFor, type FailureFlag } from '../support/processes.ts';
import { skipUnless } from '../support/services.ts';
import { assertConsoleBuilt, describeViolations, IMAGES, launchBrowser, seriousViolations, type Browser } from './browser.ts';
import { ADMIN_KEY, adminCall, READ_KEY, startConsoleSystem } from './system.ts';

const skip = await skipUnless('postgres');
type Messages = typeof en;
const flag: FailureFlag = { failed: false };

const shell = (line: string) => ({ type: 'shell', shell: { command: ['sh', '-c', line] } });
const TASKS = [
  { name: 'nightly-report', schedule: '0 3 * * *', timeZone: 'Europe/Berlin', labels: { team: 'data' }, ...shell('echo report') },
  { name: 'every-minute', schedule: '* * * * *', ...shell('echo tick') },
  { name: 'flaky', ...shell('echo failing >&2; exit 3') },
  { name: 'slow-logs', ...shell('for i in 1 2 3 4 5 6 7 8; do echo line-$i; sleep 0.4; done; echo all-done') },
  { name: 'sleeper', ...shell('sleep 60') },
  { name: 'to-delete', ...shell('true') },
  // a yearly schedule created long ago that never ran: the console must flag it silent
  { name: 'yearly-silent', schedule: '0 0 1 1 *', catchUp: 'None', ...shell('true') },
];

describe('web console in Chromium against the real server', { skip, timeout: 170_000 }, () => {
  const world = useE2eWorld(flag);
  let url: string;
  let browser: Browser;
  const ids = new Map<string, string>();

  before(async () => {
    assertConsoleBuilt();
    ({ url } = await startConsoleSystem(world));
    for (const task of TASKS) {
      const created = await adminCall(url, 'POST', '/api/tasks', task);
      assert.equal(created.status, 201, JSON.stringify(created.json));
      ids.set(task.name, created.json.id);
    }
    await world.sql.query("UPDATE hg_tasks SET created_at = now() - interval '3 years' WHERE name = 'yearly-silent'");
    // a task mirrored from a ScheduledTask, as the operator writes it
    const { labels, spec } = splitTaskInput(TaskInput.parse({ name: 'k8s-report', schedule: '*/5 * * * *', ...shell('echo k8s') }));
    await world.sql.query("INSERT INTO hg_tasks (id, namespace, name, source, labels, spec) VALUES (gen_random_uuid(), 'team-a', 'k8s-report', 'kubernetes', $1, $2)", [JSON.stringify(labels), JSON.stringify(spec)]);
    ids.set('k8s-report', (await world.sql.query("SELECT id FROM hg_tasks WHERE name = 'k8s-report'")).rows[0].id);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  async function signIn(page: Page, key: string, m: Messages): Promise<void> {
    await page.goto(`${url}/`);
    await page.waitForURL(/\/login\?next=/);
    await page.getByLabel(m['login.apiKey']).fill(key);
    await page.getByRole('button', { name: m['login.submit'] }).click();
    await page.waitForURL(`${url}/`);
  }

  async function accessible(page: Page, view: string): Promise<void> {
    const violations = await seriousViolations(page);
    assert.deepEqual(violations.map((v) => v.id), [], `${view}: ${describeViolations(violations)}`);
  }

  const shot = (page: Page, name: string) => page.screenshot({ path: path.join(IMAGES, `${name}.png`), fullPage: false });
  const row = (page: Page, name: string) => page.getByRole('row').filter({ has: page.getByRole('link', { name, exact: true }) });

  async function runOf(name: string): Promise<string> {
    const run = await adminCall(url, 'POST', `/api/tasks/${ids.get(name)}/trigger`);
    assert.equal(run.status, 201, JSON.stringify(run.json));
    return run.json.id as string;
  }
  const runStatus = async (id: string) => (await adminCall(url, 'GET', `/api/task-runs/${id}`)).json.status as string;

  let page: Page;

  it('asks for an API key, exchanges it for a token, and lists every task with its schedule', tracked(flag, async () => {
    page = await browser.context.newPage();
    await signIn(page, ADMIN_KEY, en);
    const token = await page.evaluate(() => sessionStorage.getItem('hourglass.session'));
    assert.match(String(token), /"accessToken":"ey/, 'a JWT, not the key, is kept');
    assert.doesNotMatch(String(token), new RegExp(ADMIN_KEY), 'the key itself is not stored');
    await page.getByRole('heading', { level: 1, name: en['schedules.title'] }).waitFor();
    const nightly = row(page, 'nightly-report');
    await assert.doesNotReject(nightly.getByText('0 3 * * *').waitFor());
    assert.match(await nightly.locator('time').innerText(), /^in /, 'countdown to the next fire');
    assert.match(await nightly.innerText(), /Europe\/Berlin/);
    assert.match(await nightly.innerText(), /At 03:00/, 'the schedule in words');
    assert.match(await nightly.innerText(), /team=data/);
    assert.match(await row(page, 'yearly-silent').innerText(), new RegExp(en['health.silent']), 'never ran although due: flagged silent');
    assert.match(await row(page, 'team-a/k8s-report').innerText(), /Kubernetes \(team-a\)/);
    await accessible(page, 'schedules');
    await shot(page, 'console-schedules');
  }));

  it('searches on the server and keeps the search in the URL', tracked(flag, async () => {
    await page.getByLabel(en['schedules.search']).fill('night');
    await page.getByRole('button', { name: en['schedules.apply'] }).click();
    await page.waitForURL(/\?q=night/);
    await waitFor(async () => (await page.locator('tbody tr').count()) === 1, 5000, 100, 'one row');
    assert.equal(await row(page, 'nightly-report').count(), 1);
    // the URL is the view: opened in a fresh tab (a fresh session: sign in first), the same filtered list
    const shared = await browser.context.newPage();
    await shared.goto(page.url());
    await shared.getByLabel(en['login.apiKey']).fill(ADMIN_KEY);
    await shared.getByRole('button', { name: en['login.submit'] }).click();
    await shared.waitForURL(page.url());
    await shared.getByRole('link', { name: 'nightly-report', exact: true }).waitFor();
    assert.equal(await shared.locator('tbody tr').count(), 1);
    await shared.close();
  }));

  it('suspends and resumes in bulk, with a reason', tracked(flag, async () => {
    await page.goto(`${url}/?state=false`);
    await page.getByLabel('Select nightly-report').check();
    await page.getByLabel('Select every-minute').check();
    await page.getByRole('button', { name: en['schedules.bulkSuspend'] }).click();
    await page.getByRole('dialog').getByLabel(en['action.reason']).fill('maintenance window');
    await page.getByRole('dialog').getByRole('button', { name: en['common.confirm'] }).click();
    await page.getByRole('status').filter({ hasText: 'Suspend × 2' }).waitFor();
    for (const name of ['nightly-report', 'every-minute']) {
      const task = (await adminCall(url, 'GET', `/api/tasks/${ids.get(name)}`)).json;
      assert.equal(task.suspend, true, name);
      assert.equal(task.labels['hourglass.io/suspend-reason'], 'maintenance window', name);
    }
    await page.goto(`${url}/?state=true`);
    await page.getByLabel(en['schedules.selectAll']).check();
    await page.getByRole('button', { name: en['schedules.bulkResume'] }).click();
    await page.getByRole('dialog').getByRole('button', { name: en['common.confirm'] }).click();
    await page.getByRole('status').filter({ hasText: 'Resume × 2' }).waitFor();
    for (const name of ['nightly-report', 'every-minute']) {
      const task = (await adminCall(url, 'GET', `/api/tasks/${ids.get(name)}`)).json;
      assert.equal(task.suspend, false, name);
      assert.equal(task.labels['hourglass.io/suspend-reason'], undefined, `${name}: the reason goes with the suspension`);
    }
  }));

  it('task page: spec, next fires in its time zone, inline field errors on edit, suspend with a reason', tracked(flag, async () => {
    await page.goto(`${url}/tasks/${ids.get('nightly-report')}`);
    await page.getByRole('heading', { level: 1, name: 'Task nightly-report' }).waitFor();
    const fires = page.locator('ol.fires time.fire');
    await waitFor(async () => (await fires.count()) === 10, 5000, 100, 'ten next fires');
    const expected = (await adminCall(url, 'GET', `/api/tasks/${ids.get('nightly-report')}/next-fires?count=10`)).json.fires as string[];
    assert.deepEqual(await fires.evaluateAll((nodes) => nodes.map((n) => n.getAttribute('datetime'))), expected);
    for (const fire of expected) assert.match(fire, /T0[12]:00:00\.000Z$/, '03:00 in Berlin is 01:00 or 02:00 UTC, by DST');
    assert.match(await fires.first().innerText(), /03:00:00 \(Europe\/Berlin\)/, "shown in the task's own time zone");

    await page.getByRole('button', { name: en['action.edit'], exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel(en['field.schedule']).fill('not a cron');
    await dialog.getByRole('button', { name: en['common.save'] }).click();
    const fieldError = dialog.locator('#error-schedule');
    await fieldError.waitFor();
    assert.ok((await fieldError.innerText()).length > 0, 'the API message is shown under the field');
    assert.equal(await dialog.getByLabel(en['field.schedule']).getAttribute('aria-invalid'), 'true');
    await dialog.getByLabel(en['field.schedule']).fill('30 4 * * *');
    await dialog.getByRole('button', { name: en['common.save'] }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal((await adminCall(url, 'GET', `/api/tasks/${ids.get('nightly-report')}`)).json.schedule, '30 4 * * *');

    await page.getByRole('button', { name: en['action.suspend'] }).click();
    await page.getByRole('dialog').getByLabel(en['action.reason']).fill('holiday freeze');
    await page.getByRole('dialog').getByRole('button', { name: en['action.suspend'] }).click();
    await page.getByText('Suspended: holiday freeze').waitFor();
    await page.getByText(en['task.noFires']).waitFor();
    await accessible(page, 'task');
    await page.getByRole('button', { name: en['action.resume'] }).click();
    await page.getByText('Suspended: holiday freeze').waitFor({ state: 'detached' });
    await page.getByRole('tab', { name: en['task.form'] }).focus();
    await page.keyboard.press('ArrowRight');
    await page.locator('pre.yaml').getByText('schedule: 30 4 * * *').waitFor();
    assert.equal(await page.getByRole('tab', { name: en['task.yaml'] }).evaluate((el) => el === el.ownerDocument.activeElement), true, 'the keyboard moves between tabs');
    // trends over a day, a week and a month side by side
    assert.equal(await page.locator('table.trends thead th').count(), 3);
    await page.getByRole('tab', { name: en['task.form'] }).click();
    await shot(page, 'console-task');
  }));

  it('run page: trigger now, live logs over server-sent events, kept after the end, with the output', tracked(flag, async () => {
    await page.goto(`${url}/tasks/${ids.get('slow-logs')}`);
    await page.getByRole('button', { name: en['action.trigger'] }).click();
    const notice = await page.getByRole('status').filter({ hasText: /Run .+ created/ }).innerText();
    const runId = /Run (\S+) created/.exec(notice)?.[1] as string;
    await page.goto(`${url}/runs/${runId}`);
    await page.locator('pre.logs').getByText('line-1').waitFor({ timeout: 20_000 });
    const wasLive = await page.getByText(en['run.live'], { exact: true }).count();
    await page.locator('pre.logs').getByText('all-done').waitFor({ timeout: 20_000 });
    assert.equal(await runStatus(runId), 'succeeded');
    await page.locator('.meta .badge').getByText(en['status.succeeded']).waitFor();
    assert.ok(wasLive > 0 || (await page.locator('pre.logs').innerText()).includes('line-8'), 'followed while running');
    assert.match(await page.locator('pre.logs').innerText(), /line-1[\s\S]*line-8[\s\S]*all-done/, 'every line, in order, kept after the end');
    await page.locator('ol.attempts li').first().waitFor();
    await accessible(page, 'run');
    await shot(page, 'console-run');
  }));

  it('retries a failed run, and all failed runs of a task', tracked(flag, async () => {
    const failed = await runOf('flaky');
    await waitFor(async () => (await runStatus(failed)) === 'failed', 20_000, 200, 'the run fails');
    await page.goto(`${url}/runs/${failed}`);
    await page.getByText('failing').first().waitFor();
    await page.getByRole('button', { name: en['action.retryRun'] }).click();
    await page.waitForURL((u) => u.pathname.startsWith('/runs/') && !u.pathname.endsWith(failed));
    const retried = (await adminCall(url, 'GET', page.url().replace(`${url}/runs/`, '/api/task-runs/'))).json;
    assert.equal(retried.attempt, 2);
    assert.equal(retried.trigger, 'retry');
    await page.goto(`${url}/tasks/${ids.get('flaky')}`);
    await page.getByRole('button', { name: en['action.retryFailed'] }).click();
    await page.getByRole('status').filter({ hasText: /\d+ runs retried/ }).waitFor();
  }));

  it('cancels a running run', tracked(flag, async () => {
    const run = await runOf('sleeper');
    await waitFor(async () => (await runStatus(run)) === 'running', 20_000, 200, 'the run starts');
    await page.goto(`${url}/runs/${run}`);
    await page.getByRole('button', { name: en['action.cancelRun'] }).click();
    await waitFor(async () => (await runStatus(run)) === 'cancelled', 20_000, 200, 'the run is cancelled');
    await page.locator('.meta .badge').getByText(en['status.cancelled']).waitFor();
  }));

  it('shows a Kubernetes task read-only, with the kubectl command that changes it', tracked(flag, async () => {
    await page.goto(`${url}/tasks/${ids.get('k8s-report')}`);
    await page.getByText('kubectl edit scheduledtask/k8s-report -n team-a').waitFor();
    for (const action of ['action.edit', 'action.delete', 'action.suspend'] as const) {
      assert.equal(await page.getByRole('button', { name: en[action], exact: true }).count(), 0, `${action} is not offered`);
    }
  }));

  it('deletes a task after confirmation', tracked(flag, async () => {
    await page.goto(`${url}/tasks/${ids.get('to-delete')}`);
    await page.getByRole('button', { name: en['action.delete'] }).click();
    await page.getByRole('dialog').getByText(en['action.confirmDelete'].replace('{name}', 'to-delete')).waitFor();
    await page.getByRole('dialog').getByRole('button', { name: en['action.delete'] }).click();
    await page.waitForURL(`${url}/`);
    assert.equal((await adminCall(url, 'GET', `/api/tasks/${ids.get('to-delete')}`)).status, 404);
    await page.getByRole('link', { name: 'nightly-report', exact: true }).waitFor();
    assert.equal(await row(page, 'to-delete').count(), 0);
    // success rates from the runs of the tests above: slow-logs succeeded, flaky never did
    await row(page, 'slow-logs').getByText('100 %').waitFor();
    await row(page, 'flaky').getByText('0 %', { exact: true }).waitFor();
  }));

  it('timeline: past runs by outcome and upcoming fires on one axis', tracked(flag, async () => {
    await page.goto(`${url}/timeline?window=6h`);
    await page.locator('svg.timeline').waitFor();
    assert.ok((await page.locator('svg.timeline circle.mark.status-succeeded').count()) > 0, 'past runs');
    assert.ok((await page.locator('svg.timeline circle.mark.status-failed').count()) > 0, 'failures stand out');
    assert.ok((await page.locator('svg.timeline circle.mark.upcoming').count()) > 0, 'upcoming fires');
    await accessible(page, 'timeline');
    await shot(page, 'console-timeline');
  }));

  it('system: health of each component, version and leader', tracked(flag, async () => {
    await page.goto(`${url}/system`);
    await page.locator('ul.health li').filter({ hasText: 'database' }).getByText(en['system.ok']).waitFor();
    await page.getByText(/yes \(this process leads\)/).waitFor({ timeout: 15_000 });
    await page.locator('dd').getByText('all', { exact: true }).waitFor();
    await accessible(page, 'system');
    await shot(page, 'console-system');
  }));

  it('a read-only credential sees no write action', tracked(flag, async () => {
    const reader = await browser.context.newPage();
    await signIn(reader, READ_KEY, en);
    await reader.getByRole('link', { name: 'nightly-report', exact: true }).waitFor();
    assert.equal(await reader.getByRole('checkbox').count(), 0, 'no bulk selection');
    await reader.goto(`${url}/tasks/${ids.get('nightly-report')}`);
    await reader.getByRole('heading', { level: 1, name: 'Task nightly-report' }).waitFor();
    for (const action of ['action.trigger', 'action.edit', 'action.delete', 'action.suspend'] as const) {
      assert.equal(await reader.getByRole('button', { name: en[action], exact: true }).count(), 0, `${action} is hidden`);
    }
    await reader.close();
  }));

  it('简体中文: every view, and the actions, in Simplified Chinese (dark theme)', tracked(flag, async () => {
    const zhPage = await browser.context.newPage();
    await signIn(zhPage, ADMIN_KEY, en);
    await zhPage.getByLabel(en['pref.language']).selectOption('zh');
    await zhPage.getByLabel(zh['pref.theme']).selectOption('dark');
    await zhPage.getByRole('heading', { level: 1, name: zh['schedules.title'] }).waitFor();
    assert.equal(await zhPage.locator('html').getAttribute('lang'), 'zh-CN');
    await zhPage.getByRole('link', { name: 'nightly-report', exact: true }).waitFor();
    assert.match(await row(zhPage, 'nightly-report').innerText(), /在04:30/, 'the schedule in Chinese words');
    await accessible(zhPage, 'schedules (zh)');
    await shot(zhPage, 'console-schedules-zh-dark');

    await zhPage.getByRole('link', { name: 'nightly-report', exact: true }).click();
    await zhPage.getByRole('heading', { level: 1, name: '任务 nightly-report' }).waitFor();
    await zhPage.getByRole('button', { name: zh['action.trigger'] }).click();
    await zhPage.getByRole('status').filter({ hasText: /已创建运行/ }).waitFor();
    await zhPage.getByRole('button', { name: zh['action.suspend'] }).click();
    await zhPage.getByRole('dialog').getByLabel(zh['action.reason']).fill('春节封网');
    await zhPage.getByRole('dialog').getByRole('button', { name: zh['action.suspend'] }).click();
    await zhPage.getByText('已暂停：春节封网').waitFor();
    assert.equal((await adminCall(url, 'GET', `/api/tasks/${ids.get('nightly-report')}`)).json.labels['hourglass.io/suspend-reason'], '春节封网');
    await accessible(zhPage, 'task (zh)');
    await zhPage.getByRole('button', { name: zh['action.resume'] }).click();
    await zhPage.getByText('已暂停：春节封网').waitFor({ state: 'detached' });

    await zhPage.getByRole('link', { name: zh['status.succeeded'] }).first().click();
    await zhPage.getByRole('heading', { level: 1, name: /^运行 / }).waitFor();
    await zhPage.getByRole('heading', { name: zh['run.attempts'] }).waitFor();
    await accessible(zhPage, 'run (zh)');

    for (const [href, title] of [['/timeline', zh['timeline.title']], ['/system', zh['system.title']], ['/workers', zh['workers.title']]] as const) {
      await zhPage.getByRole('navigation').getByRole('link', { name: zh[href === '/timeline' ? 'nav.timeline' : href === '/system' ? 'nav.system' : 'nav.workers'] }).click();
      await zhPage.getByRole('heading', { level: 1, name: title }).waitFor();
      assert.equal(new URL(zhPage.url()).pathname, href);
      await zhPage.waitForLoadState('networkidle');
      await accessible(zhPage, `${href} (zh)`);
    }
    // the choice is remembered (localStorage) for the next visit: back to English and light for the others
    await zhPage.getByLabel(zh['pref.language']).selectOption('en');
    await zhPage.getByLabel(en['pref.theme']).selectOption('light');
    await zhPage.getByRole('heading', { level: 1, name: en['workers.title'] }).waitFor();
    await zhPage.close();
  }));

  it('workers and pools: load and backlog, and drain a worker', tracked(flag, async () => {
    await page.goto(`${url}/workers`);
    await page.getByRole('heading', { level: 1, name: en['workers.title'] }).waitFor();
    await page.waitForLoadState('networkidle');
    const workerRows = await page.locator('main').innerText();
    const alive = page.locator('tbody tr').filter({ hasText: en['status.ALIVE'] }).first();
    await alive.waitFor().catch((error: Error) => {
      throw new Error(`${error.message}\n${workerRows}`);
    });
    await page.getByRole('heading', { name: en['workers.pools'] }).waitFor();
    await page.locator('tbody tr').filter({ hasText: 'default' }).last().waitFor();
    await accessible(page, 'workers');
    await shot(page, 'console-workers');
    await alive.getByRole('button', { name: en['action.drain'] }).click();
    await page.getByRole('dialog').getByRole('button', { name: en['action.drain'] }).click();
    await page.locator('tbody tr').filter({ hasText: en['status.DRAINING'] }).first().waitFor();
    const workers = (await adminCall(url, 'GET', '/api/workers')).json.items as Array<{ status: string }>;
    assert.ok(workers.some((w) => w.status === 'DRAINING'), JSON.stringify(workers));
  }));

  it('saw no script error and no Content-Security-Policy violation on any page', () => {
    assert.deepEqual(browser.problems, []);
  });
});
