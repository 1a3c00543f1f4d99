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
