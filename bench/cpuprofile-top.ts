/**
 * `node --import tsx bench/cpuprofile-top.ts FILE.cpuprofile [N]`: the N functions with the most self time
 * in a V8 CPU profile (as written by `node --cpu-prof`, e.g. `npm run bench -- --pier-node-args
 * "--cpu-prof --cpu-prof-dir=/tmp/prof"`), and the share of time by source file.
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const [file, top = '25'] = process.argv.slice(2);
if (!file) throw new Error('usage: cpuprofile-top.ts FILE.cpuprofile [N]');
const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

const where = (n: ProfileNode): string => {
  const url = n.callFrame.url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, 'node_modules/').replace(/^.*\/(src|dist)\//, '$1/');
  return url ? `${url}:${n.callFrame.lineNumber + 1}` : '(native)';
};
const functions = new Map<string, number>();
const files = new Map<string, number>();
for (const [id, time] of self) {
  const node = byId.get(id);
  if (!node) continue;
  const name = `${node.callFrame.functionName || '(anonymous)'} ${where(node)}`;
  functions.set(name, (functions.get(name) ?? 0) + time);
  const fileName = where(node).replace(/:\d+$/, '');
  files.set(fileName, (files.get(fileName) ?? 0) + time);
}
const pct = (t: number): string => `${((t / total) * 100).toFixed(1).padStart(5)}%`;
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled`);
console.log('\nself time by function:');
for (const [name, time] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) console.log(`${pct(time)}  ${name}`);
console.log('\nself time by file:');
for (const [name, time] of [...files].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${pct(time)}  ${name}`);
