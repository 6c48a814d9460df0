// The built renderer, served read-only from one directory: no listing, no path outside it, and
// the same strict CSP the Electron window uses (no inline script, connections only back here:
// the WebSocket, and plain requests to this origin).

import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
};

export function contentSecurityPolicy(port: number): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    // 'self': the page asks its server whether it answers at all, to tell "stopped" from "token refused".
    `connect-src ws://127.0.0.1:${port} ws://localhost:${port} 'self'`,
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'none'",
  ].join('; ');
}

export type StaticFile = { status: 200; type: string; body: Buffer } | { status: 404 | 400 };

/** `/` and unknown routes without a dot get index.html (the UI routes with the fragment). */
export async function staticFile(root: string, urlPath: string): Promise<StaticFile> {
  let path: string;
  try {
    path = decodeURIComponent(urlPath.split('?')[0] ?? '/');
  } catch {
    return { status: 400 };
  }
  if (path.includes('\0')) return { status: 400 };
  if (path === '/' || !extname(path)) path = '/index.html';
  const full = normalize(join(root, path));
  if (!full.startsWith(root.endsWith(sep) ? root : root + sep)) return { status: 404 };
  try {
    if (!(await stat(full)).isFile()) return { status: 404 };
    return { status: 200, type: TYPES[extname(full)] ?? 'application/octet-stream', body: await readFile(full) };
  } catch {
    return { status: 404 };
  }
}
