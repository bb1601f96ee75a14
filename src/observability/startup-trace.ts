/**
 * Start-up stages, for measuring where a start's time goes: with PIER_STARTUP_TRACE=1 each stage is written
 * to stderr as one line, `pier-startup <pid> <slot|-> <ms since the process began> <stage>`. Off, a mark
 * costs one property read.
 */
const enabled = process.env.PIER_STARTUP_TRACE === '1';

export function markStartup(stage: string): void {
  if (!enabled) return;
  process.stderr.write(`pier-startup ${process.pid} ${process.env.PIER_WORKER_SLOT ?? '-'} ${performance.now().toFixed(1)} @${((performance.timeOrigin + performance.now()) % 1e6).toFixed(1)} ${stage}\n`);
}
