/**
 * What the shell task sandbox costs per run (docs/task-isolation.md): `true` run sequentially through the real
 * shell executor, unisolated and in the namespace sandbox (needs root). Run: node bench/task-sandbox-overhead.ts [runs]
 */
import { createShellExecutor } from '../worker/executors/shell.ts';
for (const kind of ['none', 'namespace'] as const) {
  const shell = createShellExecutor({ sandbox: kind === 'none' ? { kind } : { kind, uid: 65534, gid: 65534 } });
  const n = Number(process.argv[2] ?? 100);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = await shell.execute({ shell: { command: ['true'] } }, { runId: '1', attempt: 1, taskName: 't', shard: 0, shardTotal: 1, scheduledTime: 'x', timeoutMs: 10000, signal: new AbortController().signal, outputLimitBytes: 1024 });
    if (r.status !== 'succeeded') throw new Error(JSON.stringify(r));
  }
  console.log(`${kind}: ${((performance.now() - t0) / n).toFixed(1)} ms per run of \`true\` (${n} runs, sequential)`);
}
