// The operations endpoints on HEALTH_PORT (CONTRACT §9): GET /health → 200 {"ok":true};
// GET /ready → 200, or 503 while draining; `routes` may answer more paths (/metrics, /rooms: see
// ops-routes.ts); anything else → 404 (405 for another method on a known path).

import { createServer, type Server } from 'node:http';
import type { OpsRoutes } from './ops-routes.js';

export interface HealthSource {
  readonly ready: () => { ok: true } | { ok: false; reason: string };
  /** More paths on this port: answers and returns true, or returns false for a 404. */
  readonly routes?: OpsRoutes;
}

export function createHealthServer(source: HealthSource): Server {
  return createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const json = (status: number, body: unknown) =>
      res
        .writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
        .end(JSON.stringify(body));
    if (path !== '/health' && path !== '/ready' && source.routes?.(req, res, path) === true) return;
    if (path !== '/health' && path !== '/ready') return json(404, { ok: false, error: 'not found' });
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return json(405, { ok: false, error: 'method not allowed' });
    }
    if (path === '/health') return json(200, { ok: true });
    const ready = source.ready();
    return json(ready.ok ? 200 : 503, ready);
  });
}
