/**
 * `npm run build` (also run by `npm install` through `prepare`): bundles the server and CLI into one file,
 * dist/cli/main.js, so a start reads one file instead of resolving and compiling a few hundred modules.
 * Modules that are imported dynamically (token signing, TLS, the cluster's metrics aggregation, …) are in
 * the same file but only evaluated when first used. better-sqlite3 (a native addon that locates its
 * binary at run time) and pino-pretty (loaded only when logging to a terminal) stay in node_modules.
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';

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

rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: [new URL('../src/cli/main.ts', import.meta.url).pathname],
  outfile: new URL('../dist/cli/main.js', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['better-sqlite3', 'pino-pretty'],
  // CommonJS dependencies inside an ES module bundle still call require().
  banner: { js: "import { createRequire as __pierCreateRequire } from 'node:module'; const require = __pierCreateRequire(import.meta.url);" },
  // Less text to decode and parse at every start; the source map keeps stack traces readable.
  minify: true,
  keepNames: true,
  legalComments: 'none',
  sourcemap: 'linked',
  plugins: [englishOnlyZod],
  logLevel: 'warning',
});
