/**
 * `npm run build` (also run by `npm install` through `prepare`): bundles the server and CLI into one file so a
 * start reads and compiles one script instead of resolving a few hundred modules.
 *
 * - dist/pier.cjs: the bundle. Modules that are imported dynamically (token signing, TLS, the request gate,
 *   the cluster's metrics aggregation, every CLI command but the one being run) are in it but only evaluated
 *   when first used. better-sqlite3 (a native addon that locates its binary at run time), pino-pretty
 *   (loaded only when logging to a terminal) and the SDKs of optional backends (pg, @aws-sdk, @azure;
 *   loaded only when configured) stay in node_modules.
 * - dist/cli/main.js: the `pier` command. It runs the bundle through V8's code cache (Node 20 has no module
 *   compile cache of its own): the first start compiles the bundle and, a few seconds later, stores V8's
 *   compiled code (including the functions start-up ran) beside it; later starts, and every worker process,
 *   skip most of the compiling. A cache from another Node version is rejected by V8 and simply rewritten;
 *   a read-only installation just compiles every time.
 */
import { build } from 'esbuild';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const dist = new URL('../dist/', import.meta.url);

/**
 * zod exposes its ~40 message translations through one namespace object, which keeps all of them in a
 * bundle; Pier's messages are English, so the namespace is cut down to `en` (the one zod itself selects).
 */
const englishOnlyZod = {
  name: 'zod-english-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
      contents: 'export { default as en } from "./en.js";',
      resolveDir: dirname(args.path),
    }));
  },
};

rmSync(dist, { recursive: true, force: true });
await build({
  entryPoints: [new URL('../src/cli/main.ts', import.meta.url).pathname],
  outfile: new URL('pier.cjs', dist).pathname,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // Native or heavy modules loaded only when configured stay in node_modules: the bundle is parsed at every start.
  external: ['better-sqlite3', 'pino-pretty', 'pg', '@aws-sdk/*', '@azure/*'],
  define: { 'import.meta.url': '__pierModuleUrl' },
  banner: { js: "var __pierModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  // Less text to decode and parse at every start; the source map keeps stack traces readable.
  minify: true,
  keepNames: true,
  legalComments: 'none',
  sourcemap: 'linked',
  plugins: [englishOnlyZod],
  logLevel: 'warning',
});

// V8 keeps a script's source in memory for as long as the script lives, one byte per character when every
// character is Latin-1 and two otherwise; esbuild leaves a few non-ASCII characters in regular expressions
// (a duration parser's µ and μ), which doubled the 1.4 MB source in every process. Escaped, it stays one-byte.
const bundleFile = new URL('pier.cjs', dist);
const bundled = readFileSync(bundleFile, 'utf8');
writeFileSync(bundleFile, bundled.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));

// A CommonJS script (dist/cli/package.json says so): node starts it without setting up its ES module loader.
// The first worker of a pool is forked before the bundle is even read (src/main/early-worker.ts).
await build({
  entryPoints: [new URL('../src/main/early-worker.ts', import.meta.url).pathname],
  outfile: new URL('early-worker.cjs', dist).pathname,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});

const LAUNCHER = `#!/usr/bin/env node
// The pier command: runs ../pier.cjs through V8's code cache (see scripts/build.mjs).
'use strict';
const { readFileSync, renameSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
const { Script } = require('node:vm');

// PIER_STARTUP_TRACE=1: start-up stages on stderr (src/observability/startup-trace.ts).
const trace = process.env.PIER_STARTUP_TRACE === '1'
  ? (stage) => process.stderr.write(\`pier-startup \${process.pid} \${process.env.PIER_WORKER_SLOT ?? '-'} \${performance.now().toFixed(1)} @\${((performance.timeOrigin + performance.now()) % 1e6).toFixed(1)} \${stage}\\n\`)
  : () => undefined;
trace('launcher');
if (process.argv[2] === 'serve') require('../early-worker.cjs').forkFirstWorkerEarly(process.argv.slice(3), process.env);
const file = join(__dirname, '..', 'pier.cjs');
const cacheFile = \`\${file}.\${process.version}.cache\`;
let cachedData;
try {
  cachedData = readFileSync(cacheFile);
} catch {
  // first start
}
const source = readFileSync(file, 'utf8').replace(/^#!.*/, '');
const script = new Script(\`(function (exports, require, module, __filename, __dirname) {\${source}\\n})\`, { filename: file, cachedData });
trace(\`bundle compiled (code cache \${cachedData === undefined ? 'absent' : script.cachedDataRejected ? 'rejected' : 'used'})\`);
if (cachedData === undefined || script.cachedDataRejected) {
  // Once start-up has run (its functions are then compiled too), or at exit if that comes first.
  let saved = false;
  const save = () => {
    if (saved) return;
    saved = true;
    try {
      const temp = \`\${cacheFile}.\${process.pid}\`;
      writeFileSync(temp, script.createCachedData());
      renameSync(temp, cacheFile);
    } catch {
      // read-only installation: compile at every start
    }
  };
  setTimeout(save, 3000).unref();
  process.once('exit', save);
}
const bundle = { exports: {} };
script.runInThisContext()(bundle.exports, require('node:module').createRequire(file), bundle, file, join(__dirname, '..'));
`;
mkdirSync(new URL('cli/', dist), { recursive: true });
writeFileSync(new URL('cli/main.js', dist), LAUNCHER);
writeFileSync(new URL('cli/package.json', dist), '{ "type": "commonjs" }\n');
chmodSync(new URL('cli/main.js', dist), 0o755);
