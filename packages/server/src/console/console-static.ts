import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The console's Content-Security-Policy: its own scripts and styles only (no
 * inline script, no eval), images from itself or data: URLs (the TOTP QR
 * code), API calls to this origin, never framed.
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** A relative path of plain segments: no `..`, no hidden files, no odd characters. */
const SAFE_PATH = /^(?:[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}\/){0,3}[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;
const MAX_FILE_BYTES = 16 * 1024 * 1024;

/**
 * Where the built console lives: SIGHTLINE_CONSOLE_DIR, else the workspace's
 * packages/console/dist (built by `npm run build -w packages/console`).
 */
export function consoleDistDir(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env['SIGHTLINE_CONSOLE_DIR'];
  return configured !== undefined && configured !== '' ? configured : fileURLToPath(new URL('../../../console/dist/', import.meta.url));
}

function page(res: ServerResponse, status: number, title: string, text: string): void {
  const body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1><p>${text}</p></body></html>`;
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

async function fileIfPresent(path: string): Promise<Buffer | undefined> {
  try {
    const s = await stat(path);
    if (!s.isFile() || s.size > MAX_FILE_BYTES) return undefined;
    return await readFile(path);
  } catch {
    return undefined;
  }
}

async function serve(distDir: string, req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
  const head = req.method === 'HEAD';
  const index = await fileIfPresent(join(distDir, 'index.html'));
  if (index === undefined) {
    page(res, 503, 'Sightline console not built', 'The web console has not been built on this control plane. Run <code>npm run build -w packages/console</code> (or set SIGHTLINE_CONSOLE_DIR to a built console) and reload.');
    return;
  }
  const rel = pathname.slice('/console/'.length);
  let body = index;
  let type = TYPES['.html'] ?? 'text/html';
  let immutable = false;
  if (rel !== '' && SAFE_PATH.test(rel) && !rel.split('/').includes('..')) {
    const file = await fileIfPresent(join(distDir, rel));
    if (file !== undefined) {
      body = file;
      type = TYPES[extname(rel).toLowerCase()] ?? 'application/octet-stream';
      // Vite puts content-hashed names under assets/: they never change.
      immutable = rel.startsWith('assets/');
    } else if (rel.startsWith('assets/')) {
      page(res, 404, 'Not found', 'No such console asset.');
      return;
    }
  }
  res.statusCode = 200;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', body.length);
  res.setHeader('Cache-Control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  res.end(head ? undefined : body);
}

/**
 * The pipeline's fallback for paths outside /api: `/` and `/console` redirect
 * to `/console/`; `/console/*` serves the built files, or index.html for the
 * console's own routes (client-side routing). Anything else (the device API)
 * is left to the router.
 */
export function consoleFallback(distDir: string): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const pathname = new URL(req.url ?? '/', 'https://sightline.invalid').pathname;
    if (pathname !== '/' && pathname !== '/console' && !pathname.startsWith('/console/')) return false;
    res.setHeader('Content-Security-Policy', CONSOLE_CSP);
    res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      page(res, 405, 'Method not allowed', 'The console serves pages with GET only.');
      return true;
    }
    req.resume();
    if (pathname === '/' || pathname === '/console') {
      res.statusCode = 302;
      res.setHeader('Location', '/console/');
      res.setHeader('Content-Length', 0);
      res.end();
      return true;
    }
    serve(distDir, req, res, pathname).catch(() => {
      if (!res.headersSent) page(res, 500, 'Console error', 'The console files could not be read.');
      else res.destroy();
    });
    return true;
  };
}
