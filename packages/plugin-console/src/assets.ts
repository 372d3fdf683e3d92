import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RouteHandler } from '@tollgate/core';

/** A file the console serves, read once at boot. */
export interface Asset {
  path: string;
  type: string;
  body: Buffer;
  etag: string;
}

const UI = fileURLToPath(new URL('../ui/', import.meta.url));
const JS = 'text/javascript; charset=utf-8';

/**
 * The page, its script and style, and the prebuilt browser builds of preact, htm and uPlot
 * from the installed packages: everything from the gateway, nothing from another host, no
 * build step. preact/hooks imports the bare name "preact", which a browser cannot resolve
 * without an inline import map (which the CSP forbids), so that one import is pointed at
 * the served file.
 */
export function loadAssets(): Asset[] {
  const require = createRequire(import.meta.url);
  const preact = require.resolve('preact');
  const hooks = require.resolve('preact/hooks');
  const htm = join(dirname(require.resolve('htm')), 'htm.mjs');
  const uplot = dirname(require.resolve('uplot'));
  const files: Array<[string, string, string | Buffer]> = [
    ['/ui', 'text/html; charset=utf-8', readFileSync(join(UI, 'index.html'))],
    ['/ui/app.js', JS, readFileSync(join(UI, 'app.js'))],
    ['/ui/style.css', 'text/css; charset=utf-8', readFileSync(join(UI, 'style.css'))],
    ['/ui/vendor/preact.mjs', JS, withoutSourceMap(readFileSync(preact, 'utf8'))],
    ['/ui/vendor/hooks.mjs', JS, withoutSourceMap(readFileSync(hooks, 'utf8')).replace(/from\s*"preact"/g, 'from"/ui/vendor/preact.mjs"')],
    ['/ui/vendor/htm.mjs', JS, readFileSync(htm)],
    ['/ui/vendor/uplot.js', JS, readFileSync(join(uplot, 'uPlot.iife.min.js'))],
    ['/ui/vendor/uplot.css', 'text/css; charset=utf-8', readFileSync(join(uplot, 'uPlot.min.css'))],
  ];
  return files.map(([path, type, content]) => {
    const body = Buffer.isBuffer(content) ? content : Buffer.from(content);
    return { path, type, body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
  });
}

/** The page's rules: only this gateway's scripts, styles and API; never framed. */
export const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

/** Serves one asset, answering 304 to a matching If-None-Match. */
export function assetHandler(asset: Asset): RouteHandler {
  return (req) => {
    const { res } = req.raw;
    const headers = { ...SECURITY_HEADERS, 'content-type': asset.type, etag: asset.etag, 'cache-control': 'no-cache' };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers).end();
      return undefined;
    }
    res.writeHead(200, { ...headers, 'content-length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
    return undefined;
  };
}

function withoutSourceMap(code: string): string {
  return code.replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n');
}
