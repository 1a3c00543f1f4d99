import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeApiServer } from './server.ts';

/**
 * The real kubectl (from PATH) pointed at an in-memory server. Each instance has its own kubeconfig
 * and discovery cache directory: /usr/bin/kubectl picks a kubectl 1.27-1.33 from the server's
 * version, and a shared cache would leak discovery between servers on different ports.
 */
export interface KubectlResult { code: number | null; stdout: string; stderr: string }

export interface Kubectl {
  /** Runs to completion (rejecting after `timeoutMs`, default 60 s); never throws on a non-zero exit. */
  run(args: string[], options?: { input?: string; timeoutMs?: number }): Promise<KubectlResult>;
  /** Starts a long-running command (`get -w`); the caller kills it. */
  start(args: string[]): ChildProcessWithoutNullStreams;
  readonly kubeconfig: string;
  cleanup(): void;
}

export function kubectlFor(server: KubeApiServer, namespace = 'default'): Kubectl {
  const directory = mkdtempSync(join(tmpdir(), 'hourglass-kubectl-'));
  const kubeconfig = join(directory, 'kubeconfig.yaml');
  server.writeKubeconfig(kubeconfig, namespace);
  const base = ['--kubeconfig', kubeconfig, '--cache-dir', join(directory, 'cache')];
  const env = { ...process.env, KUBECONFIG: kubeconfig, HOME: directory };
  const start = (args: string[]) => spawn('kubectl', [...base, ...args], { env, stdio: 'pipe' });
  return {
    kubeconfig,
    start,
    run(args, options = {}) {
      return new Promise((resolve, reject) => {
        const child = start(args);
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
        child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(new Error(`kubectl ${args.join(' ')} timed out; stdout: ${stdout}; stderr: ${stderr}`));
        }, options.timeoutMs ?? 60_000);
        child.once('error', (error) => { clearTimeout(timer); reject(error); });
        child.once('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
        child.stdin.end(options.input ?? '');
      });
    },
    cleanup: () => rmSync(directory, { recursive: true, force: true }),
  };
}
