import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';

/** `npm run kube:memory`: says it is a test double, writes a working kubeconfig, stops on SIGTERM. */

const CLI = join(import.meta.dirname, '..', 'support', 'kube', 'cli.ts');

test('kube:memory prints that it is a test double that runs no pods and writes a kubeconfig pointing at itself', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'hourglass-kube-memory-'));
  const kubeconfig = join(directory, 'kubeconfig.yaml');
  const child = spawn(process.execPath, [CLI, '--port', '0', '--kubeconfig', kubeconfig], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    let output = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no banner: ${output}`)), 30_000);
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Press Ctrl+C')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => reject(new Error(`exited with ${code}: ${output}`)));
    });
    assert.match(output, /TEST DOUBLE, NOT A CLUSTER/);
    assert.match(output, /runs NO pods/);
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1];
    assert.ok(url, output);
    const config = parse(readFileSync(kubeconfig, 'utf8'));
    assert.equal(config['current-context'], 'hourglass-memory');
    assert.equal(config.clusters[0].cluster.server, url);
    const version = await (await fetch(`${url}/version`)).json() as { minor: string };
    assert.equal(version.minor, '32');
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(directory, { recursive: true, force: true });
  }
});

test('kube:memory exposes the fault helpers: drop-watches on stdin ends an open watch, expire-history makes an old resume 410', async () => {
  const directory = mkdtempSync(join(tmpdir(), 'hourglass-kube-memory-'));
  const child = spawn(process.execPath, [CLI, '--port', '0', '--kubeconfig', join(directory, 'kubeconfig.yaml')], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  const waitForOutput = (text: string) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${text}": ${output}`)), 30_000);
    const check = () => {
      if (!output.includes(text)) return;
      clearTimeout(timer);
      child.stdout.off('data', check);
      resolve();
    };
    child.stdout.on('data', check);
    check();
  });
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    await waitForOutput('Press Ctrl+C');
    assert.match(output, /drop-watches +\(kill -USR1 \d+\)/);
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)?.[1] as string;
    const list = await (await fetch(`${url}/api/v1/namespaces/default/configmaps`)).json() as { metadata: { resourceVersion: string } };
    const watch = await fetch(`${url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${list.metadata.resourceVersion}`);
    const ended = watch.text().then(() => 'ended', () => 'ended');
    child.stdin.write('drop-watches\n');
    await waitForOutput('drop-watches: done');
    assert.equal(await ended, 'ended', 'the open watch was cut');
    // a change moves the resourceVersion on; after expire-history the old one is gone
    await fetch(`${url}/api/v1/namespaces/default/configmaps`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ metadata: { name: 'bump' } }) });
    child.stdin.write('expire-history\n');
    await waitForOutput('expire-history: done');
    const stale = await (await fetch(`${url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${list.metadata.resourceVersion}`)).text();
    assert.match(stale, /"code":410/);
    child.stdin.write('nonsense\n');
    await waitForOutput('unknown command "nonsense"');
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(directory, { recursive: true, force: true });
  }
});
