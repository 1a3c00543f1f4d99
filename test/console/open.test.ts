import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { en } from '../../console/src/i18n/en.ts';
import { tracked, useE2eWorld, waitFor, type FailureFlag } from '../support/processes.ts';
import { skipUnless } from '../support/services.ts';
import { assertConsoleBuilt, launchBrowser, type Browser } from './browser.ts';
import { startConsoleSystem } from './system.ts';

const skip = await skipUnless('postgres');
const flag: FailureFlag = { failed: false };

/**
 * With auth off (development), the console asks for nothing and its writes pass the API's rules for
 * that mode: a loopback Host, same-origin requests, JSON bodies.
 */
describe('web console with auth off', { skip, timeout: 90_000 }, () => {
  const world = useE2eWorld(flag);
  let url: string;
  let browser: Browser;
  before(async () => {
    assertConsoleBuilt();
    ({ url } = await startConsoleSystem(world, { auth: false }));
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  it('opens without a sign-in, and its writes are accepted', tracked(flag, async () => {
    const created = await fetch(`${url}/api/tasks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'hello', type: 'shell', shell: { command: ['echo', 'hi'] } }) });
    assert.equal(created.status, 201);
    const page = await browser.context.newPage();
    await page.goto(`${url}/`);
    await page.getByRole('link', { name: 'hello', exact: true }).click();
    assert.equal(new URL(page.url()).pathname.startsWith('/tasks/'), true);
    assert.equal(await page.getByRole('button', { name: en['nav.signOut'] }).count(), 0, 'no session to end');
    await page.getByRole('button', { name: en['action.trigger'] }).click();
    await page.getByRole('status').filter({ hasText: /Run .+ created/ }).waitFor();
    await page.getByRole('button', { name: en['action.suspend'] }).click();
    await page.getByRole('dialog').getByRole('button', { name: en['action.suspend'] }).click();
    await page.getByText(en['task.suspendedNoReason']).waitFor();
    const task = (await (await fetch(`${url}/api/tasks/hello`)).json()) as { suspend: boolean };
    assert.equal(task.suspend, true);
    await waitFor(async () => ((await (await fetch(`${url}/api/task-runs?task=hello`)).json()) as { items: unknown[] }).items.length === 1, 10_000, 200, 'the triggered run');
    assert.deepEqual(browser.problems, []);
  }));
});
