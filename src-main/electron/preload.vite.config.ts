// Bundles the preload into one CommonJS file: a sandboxed preload cannot import modules, but it
// must carry the schema's validators (src-shared) to check what crosses the bridge.

import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  build: {
    lib: { entry: fileURLToPath(new URL('preload.ts', import.meta.url)), formats: ['cjs'], fileName: () => 'preload.cjs' },
    outDir: fileURLToPath(new URL('../../dist/electron', import.meta.url)),
    emptyOutDir: true,
    minify: false,
    sourcemap: false,
    target: 'node20',
    rolldownOptions: { external: ['electron'] },
  },
});
