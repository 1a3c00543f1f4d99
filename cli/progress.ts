/** A one-line progress bar on a terminal (stderr); silent when stderr is a pipe or a file. */
export interface Progress {
  update(done: number): void;
  finish(): void;
}

const WIDTH = 30;

export function progressBar(total: number, unit: string, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (!stream.isTTY || total <= 0) return { update() {}, finish() {} };
  const started = Date.now();
  const draw = (done: number) => {
    const fraction = Math.min(1, done / total);
    const filled = Math.round(fraction * WIDTH);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${done}/${total} ${unit}  ${seconds}s`);
  };
  draw(0);
  return {
    update: draw,
    finish() {
      stream.write('\n');
    },
  };
}
