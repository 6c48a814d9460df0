#!/usr/bin/env node
// The `hipvpn` command as installed by npm: the compiled CLI when `npm run build` has produced
// it, else the TypeScript entry through tsx (a development checkout).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('../', import.meta.url);
const built = new URL('dist/src-main/cli/hipvpn.js', root);

if (existsSync(fileURLToPath(built))) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('src-main/cli/hipvpn.ts', root).href);
}
