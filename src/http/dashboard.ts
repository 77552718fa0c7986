/**
 * The built-in dashboard at /dashboard: static ES modules and CSS from src/dashboard/ (no build step),
 * plus the graphql-ws browser build from node_modules, all served by the gateway itself (no CDN), with
 * content types, ETags (304 on a match) and a strict Content-Security-Policy. A Yoga plugin, so the
 * access log and request ids apply as to any request.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'graphql-yoga';

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  png: 'image/png',
  svg: 'image/svg+xml',
};

/**
 * Scripts, styles and connections only from the gateway; images and videos may come from anywhere
 * (the jobs' own input images and videos live on the upstream's CDN). Nothing inline, no eval.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' https: http: data:",
  "media-src 'self' https: http:",
  "connect-src 'self' ws: wss:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

function asset(path: string): Asset {
  const body = readFileSync(path);
  const extension = path.split('.').pop() ?? '';
  return { body, type: TYPES[extension] ?? 'application/octet-stream', etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/** Every file the dashboard serves, by URL path, read once at start-up. */
function loadAssets(): Map<string, Asset> {
  const folder = join(dirname(fileURLToPath(import.meta.url)), '..', 'dashboard');
  const files = ['index.html', 'app.js', 'api.js', 'queries.js', 'render.js', 'live.js', 'table-controls.js', 'styles.css', 'sample.png'];
  const assets = new Map(files.map((file) => [`/dashboard/${file}`, asset(join(folder, file))]));
  assets.set('/dashboard', assets.get('/dashboard/index.html') as Asset);
  assets.set('/dashboard/', assets.get('/dashboard/index.html') as Asset);
  const graphqlWs = dirname(createRequire(import.meta.url).resolve('graphql-ws/package.json'));
  assets.set('/dashboard/vendor/graphql-ws.js', asset(join(graphqlWs, 'umd', 'graphql-ws.min.js')));
  return assets;
}

export function useDashboard(): Plugin {
  const assets = loadAssets();
  return {
    onRequest({ url, request, endResponse }) {
      if (!url.pathname.startsWith('/dashboard')) return;
      const found = assets.get(url.pathname);
      if (!found || (request.method !== 'GET' && request.method !== 'HEAD')) {
        endResponse(new Response('Not found', { status: 404, headers: { 'content-type': 'text/plain; charset=utf-8' } }));
        return;
      }
      const headers = {
        'content-type': found.type,
        etag: found.etag,
        'cache-control': 'no-cache', // revalidate each time: cheap (304), and a new gateway version shows at once
        'content-security-policy': DASHBOARD_CSP,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      };
      if (request.headers.get('if-none-match') === found.etag) {
        endResponse(new Response(null, { status: 304, headers }));
        return;
      }
      endResponse(new Response(request.method === 'HEAD' ? null : new Uint8Array(found.body), { status: 200, headers }));
    },
  };
}
