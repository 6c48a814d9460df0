// The renderer build: one page, relative asset paths (Electron loads it from file://, `hipvpn
// web` from its own origin), no inline scripts so the strict CSP holds. Without
// @vitejs/plugin-react: Vite's own transform compiles TSX with React's automatic runtime.

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  oxc: { jsx: { runtime: 'automatic', importSource: 'react' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/renderer', import.meta.url)),
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
  },
  server: { host: '127.0.0.1' },
});
