/** Runs one case (bench/case.ts) in a child process and reads its result line. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { CaseSpec } from '../case.ts';
import { BENCH_DIR, REPO_ROOT } from './paths.ts';

export interface CaseResult {
  metrics: Record<string, number>;
  config: Record<string, unknown>;
}

const RESULT_PREFIX = 'BENCH_RESULT ';

export function runCaseProcess(spec: CaseSpec, timeoutMs: number): Promise<CaseResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', path.join(BENCH_DIR, 'case.ts'), JSON.stringify(spec)], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_TEST_CONTEXT: undefined },
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err = (err + chunk).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const line = out.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code === 0 && line) {
        resolve(JSON.parse(line.slice(RESULT_PREFIX.length)) as CaseResult);
        return;
      }
      const why = signal === 'SIGKILL' ? `timed out after ${timeoutMs} ms` : `exit code ${code}${signal ? ` (${signal})` : ''}`;
      const tail = err.trim().split('\n').filter((l) => !l.startsWith('    at ')).slice(-6).join('\n');
      reject(new Error(`${spec.scenario} on ${spec.system}: ${why}${tail ? `\n${tail}` : ''}`));
    });
  });
}
