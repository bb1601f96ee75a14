// Builds the web UI into web/dist (served by `pier serve`): plain ES modules, no CDN, relative asset
// URLs so the UI works under any configured path. `npm run dev:web` serves it with live reload, passing the
// admin API to a running Pier (PIER_URL, default http://127.0.0.1:5000).
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  server: { proxy: { '/pier/': process.env.PIER_URL ?? 'http://127.0.0.1:5000' } },
  logLevel: 'warn',
});
