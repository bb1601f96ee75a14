/**
 * The benchmark in its quick mode, end to end: `bench/run.ts --quick` against Pier and the reference
 * registry. Asserts that every figure was produced for both registries (as many samples as runs, finite
 * and positive) and that the machine limits and the load generator's ceiling were measured. It does not
 * assert any target: timings on shared machines are too noisy for that.
 *
 * Needs the reference registry (`docker-registry`, Debian package), like the compatibility suites.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ceilingIds, figureCatalog } from '../../bench/figures.ts';
import { PROFILES } from '../../bench/profiles.ts';
import type { BenchResults } from '../../bench/report.ts';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const TIMEOUT_MS = 240_000;

function runQuickBench(out: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--out', out], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (chunk: Buffer): void => {
      output = (output + chunk.toString('utf8')).slice(-20_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGTERM'), TIMEOUT_MS - 10_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolveRun({ code, output });
    });
  });
}

const usable = (value: number): boolean => Number.isFinite(value) && value > 0;
/**
 * A process's CPU time is counted in clock ticks (10 ms): a run that cost less than a tick (a quick listings run
 * on a fast machine) measures 0, a real figure. Such figures must be present and not negative.
 */
const isCpuFigure = (id: string): boolean => id.endsWith('.cpu');
const measured = (value: number): boolean => Number.isFinite(value) && value >= 0;

test('the quick bench produces every figure for Pier and the reference registry', { timeout: TIMEOUT_MS }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pier-bench-test-'));
  try {
    const out = join(dir, 'results.json');
    const { code, output } = await runQuickBench(out);
    let results: BenchResults;
    try {
      results = JSON.parse(readFileSync(out, 'utf8')) as BenchResults;
    } catch {
      assert.fail(`the bench wrote no results (exit code ${code}):\n${output.slice(-4000)}`);
    }
    const problems: string[] = results.failures.map((f) => `failure: ${f.target} ${f.workload} ${f.phase}${f.run !== undefined ? ` run ${f.run}` : ''}: ${f.message}`);

    const profile = PROFILES.quick;
    const expected = figureCatalog(profile);
    assert.deepEqual(
      results.figures.map((f) => f.id),
      expected.map((f) => f.id),
      'the results list exactly the figures of the quick profile',
    );
    for (const figure of results.figures) {
      const kinds = figure.pierOnly ? (['pier'] as const) : (['pier', 'reference'] as const);
      for (const kind of kinds) {
        const samples = figure[kind];
        const runs = figure.single ? 1 : 2; // A B B A: two runs each; set-up figures once
        if (samples.length !== runs) problems.push(`${figure.id}: ${samples.length} ${kind} samples, expected ${runs}`);
        const ok = isCpuFigure(figure.id) ? measured : usable;
        for (const value of samples) if (!ok(value)) problems.push(`${figure.id}: ${kind} sample ${value}`);
      }
      // A CPU figure whose runs all measured under a tick has no meaningful ratio.
      if (!figure.pierOnly && figure.ratio !== undefined && !isCpuFigure(figure.id) && !usable(figure.ratio)) problems.push(`${figure.id}: ratio ${figure.ratio}`);
    }

    const limits = results.machine.limits;
    for (const name of ['sha256', 'diskWrite', 'fileRead', 'tcpUpload', 'tcpDownload'] as const) {
      if (limits[name].length !== 2 || !limits[name].every(usable)) problems.push(`machine limit ${name}: ${JSON.stringify(limits[name])}`);
    }
    if (!usable(results.machine.pushLimit) || !usable(results.machine.pullLimit)) problems.push('push or pull limit missing');
    for (const id of ceilingIds(profile)) {
      const value = results.ceiling[id];
      if (value === undefined || !usable(value)) problems.push(`load generator ceiling ${id}: ${value}`);
    }

    assert.deepEqual(problems, [], `${problems.length} problem(s); bench output (end):\n${output.slice(-4000)}`);
    assert.equal(code, 0, `the bench exited with ${code}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
