/** The results file's shape, and the text report printed at the end of a run. */
import type { FigureDef, LimitKind } from './figures.ts';
import type { MachineLimits } from './machine-limits.ts';

export interface FigureResult extends FigureDef {
  pier: number[];
  reference: number[];
  /** mean(Pier) / mean(reference); absent when either is missing. */
  ratio?: number;
  /** mean / binding machine limit (throughput figures). */
  pierOfLimit?: number;
  referenceOfLimit?: number;
  /** mean / the load generator's ceiling for the same kind of request. */
  pierOfCeiling?: number;
  referenceOfCeiling?: number;
}

export interface Failure {
  workload: string;
  target: 'pier' | 'reference' | 'bench';
  phase: 'launch' | 'setup' | 'run' | 'stop';
  run?: number;
  message: string;
  /** The end of the server's output at the time, when it printed anything. */
  serverOutput?: string;
}

export interface BenchResults {
  version: 1;
  profile: string;
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  order: string;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryBytes: number;
    kernel: string;
    node: string;
    dataFilesystem: string;
    limits: MachineLimits;
    /** min(disk write, SHA-256), MB/s. */
    pushLimit: number;
    /** min(loopback TCP download, file read), MB/s. */
    pullLimit: number;
  };
  /** The best of the ceiling measurements (start and end of the run). */
  ceiling: Record<string, number>;
  ceilingSamples: Record<string, number[]>;
  servers: { pier: string; reference: string };
  figures: FigureResult[];
  /** Every measured run (run -1: a workload's setup); foreignCores is CPU used by other processes, in cores. */
  runs: Array<{ workload: string; target: string; run: number; seconds: number; loadgenCpuShare: number; foreignCores: number; info?: Record<string, unknown> }>;
  failures: Failure[];
}

export const mean = (values: number[]): number => values.reduce((sum, v) => sum + v, 0) / values.length;

export function limitFor(kind: LimitKind, machine: BenchResults['machine']): number {
  return kind === 'push' ? machine.pushLimit : machine.pullLimit;
}

/** Adds ratio and fractions to every figure. */
export function finishFigures(figures: FigureResult[], machine: BenchResults['machine'], ceiling: Record<string, number>): void {
  for (const figure of figures) {
    const pier = figure.pier.length > 0 ? mean(figure.pier) : undefined;
    const reference = figure.reference.length > 0 ? mean(figure.reference) : undefined;
    if (pier !== undefined && reference !== undefined && reference !== 0) figure.ratio = pier / reference;
    if (figure.limit) {
      const limit = limitFor(figure.limit, machine);
      if (pier !== undefined) figure.pierOfLimit = pier / limit;
      if (reference !== undefined) figure.referenceOfLimit = reference / limit;
    }
    const top = figure.ceiling ? ceiling[figure.ceiling] : undefined;
    if (top !== undefined && top > 0) {
      if (pier !== undefined) figure.pierOfCeiling = pier / top;
      if (reference !== undefined) figure.referenceOfCeiling = reference / top;
    }
  }
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toString();
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toFixed(3);
}

/** "mean [min–max]", or "mean" with one sample, or "—". */
function spread(values: number[]): string {
  if (values.length === 0) return '—';
  const m = formatNumber(mean(values));
  if (values.length === 1) return `${m} (1 run)`;
  return `${m} [${formatNumber(Math.min(...values))}-${formatNumber(Math.max(...values))}]`;
}

const percent = (fraction: number | undefined): string => (fraction === undefined ? '' : `${Math.round(fraction * 100)}%`);

function table(rows: string[][], rightAligned: Set<number>): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, col) => (rightAligned.has(col) ? cell.padStart(widths[col]!) : cell.padEnd(widths[col]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function renderReport(results: BenchResults): string {
  const lines: string[] = [];
  const m = results.machine;
  const l = m.limits;
  lines.push(
    `Pier bench (${results.profile}), ${results.startedAt}, ${results.durationSeconds.toFixed(0)} s, order ${results.order}`,
    `machine: ${m.cpus} x ${m.cpuModel}, ${(m.memoryBytes / 1024 ** 3).toFixed(0)} GiB, ${m.kernel}, node ${m.node}; data on ${m.dataFilesystem}`,
    `servers: Pier ${results.servers.pier}; reference ${results.servers.reference}`,
    '',
    'Machine limits (MB/s, mean [min-max] of 2):',
    `  SHA-256 (node:crypto, 1 core)      ${spread(l.sha256)}`,
    `  disk write + fsync                 ${spread(l.diskWrite)}`,
    `  file read (page cache)             ${spread(l.fileRead)}`,
    `  disk read O_DIRECT (info only)     ${spread(l.diskReadDirect)}`,
    `  loopback TCP upload / download     ${spread(l.tcpUpload)} / ${spread(l.tcpDownload)}`,
    `  => push limit min(disk write, SHA-256) = ${formatNumber(m.pushLimit)}; pull limit min(loopback download, file read) = ${formatNumber(m.pullLimit)}`,
    '',
    `Load generator ceiling against a trivial node:http server (another process${Object.values(results.ceilingSamples).some((v) => v.length > 1) ? '; best of start and end of the run' : ''}):`,
  );
  const c = results.ceiling;
  lines.push(`  upload ${formatNumber(c['ceiling.upload'] ?? NaN)} MB/s; download 1 stream ${formatNumber(c['ceiling.download1'] ?? NaN)} MB/s, parallel ${formatNumber(c['ceiling.downloadN'] ?? NaN)} MB/s`);
  const levels = Object.keys(c)
    .filter((k) => k.startsWith('ceiling.manifest.head.'))
    .map((k) => k.slice('ceiling.manifest.head.'.length));
  lines.push(`  manifest req/s HEAD: ${levels.map((lv) => `${lv} ${formatNumber(c[`ceiling.manifest.head.${lv}`] ?? NaN)}`).join(', ')}`);
  lines.push(`  manifest req/s GET:  ${levels.map((lv) => `${lv} ${formatNumber(c[`ceiling.manifest.get.${lv}`] ?? NaN)}`).join(', ')}`);
  lines.push('');

  const rows: string[][] = [['figure', 'unit', 'better', 'Pier mean [min-max]', 'Reference mean [min-max]', 'Pier/Ref', 'P %lim', 'R %lim', 'P %ceil', 'R %ceil']];
  let workload = '';
  for (const f of results.figures) {
    if (f.workload !== workload) {
      workload = f.workload;
      rows.push([`[${workload}]`, '', '', '', '', '', '', '', '', '']);
    }
    rows.push([
      `  ${f.label}`,
      f.unit,
      f.better === 'higher' ? 'higher' : 'lower',
      spread(f.pier),
      f.pierOnly ? '(cannot)' : spread(f.reference),
      f.ratio === undefined ? '' : formatNumber(f.ratio),
      percent(f.pierOfLimit),
      percent(f.referenceOfLimit),
      percent(f.pierOfCeiling),
      percent(f.referenceOfCeiling),
    ]);
  }
  lines.push(table(rows, new Set([3, 4, 5, 6, 7, 8, 9])));
  const measured = results.runs.filter((r) => r.run >= 0);
  if (measured.length > 0) {
    const worst = measured.reduce((a, b) => (b.foreignCores > a.foreignCores ? b : a));
    const average = measured.reduce((sum, r) => sum + r.foreignCores * r.seconds, 0) / measured.reduce((sum, r) => sum + r.seconds, 0);
    lines.push(
      '',
      `Other processes on the machine used ${average.toFixed(2)} cores on average during the runs (most: ${worst.foreignCores.toFixed(2)} in ${worst.target} ${worst.workload} run ${worst.run}).`,
    );
    if (average > 0.25) lines.push('WARNING: the machine was busy with other work; figures are noisier than their spread suggests.');
  }
  lines.push('', 'Pier/Ref: ratio of means (above 1 is better for "higher" figures, worse for "lower" ones). %lim: share of the machine limit');
  lines.push('that binds the figure; %ceil: share of the load generator\'s ceiling for the same requests.');

  if (results.failures.length > 0) {
    lines.push('', `FAILURES (${results.failures.length}):`);
    for (const failure of results.failures) {
      lines.push(`- ${failure.target} ${failure.workload} ${failure.phase}${failure.run !== undefined ? ` run ${failure.run}` : ''}: ${failure.message}`);
      if (failure.serverOutput) lines.push(`  server output (end): ${failure.serverOutput.slice(-1500).replace(/\n/g, '\n    ')}`);
    }
  }
  return lines.join('\n');
}
