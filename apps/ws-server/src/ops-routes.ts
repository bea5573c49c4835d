// The routes the health port serves besides /health and /ready (CONTRACT §9), for
// createHealthServer's `routes`. Rules:
// - GET /metrics: the Prometheus text, when metrics are on;
// - GET /rooms, GET /rooms/:id (read-only, JSON) and GET /inspector (the page that shows them) exist
//   only when an admin token is configured: without one they answer 404, as unknown paths do;
// - /rooms and /rooms/:id need `Authorization: Bearer <token>` (401 otherwise, with
//   WWW-Authenticate); the inspector page itself holds no data and loads without it;
// - an unknown room is 404; another method than GET or HEAD on these paths is 405;
// - answers are never cached. engine.inspect() copies the whole state, which is fine for an
//   operator's page polling once a second, not for a hot loop.

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CoreSnapshot } from '@exo/room-core';
import { bearerToken, tokenMatches } from './admin-auth.js';
import { INSPECTOR_CSP, INSPECTOR_HTML } from './inspector-page.js';
import type { ServerMetrics } from './metrics.js';
import { roomDetail, roomSummaries } from './rooms-view.js';

export interface OpsRoutesOptions {
  readonly metrics?: ServerMetrics;
  /** null or absent: no inspection endpoints. */
  readonly adminToken?: string | null;
  /** The state to inspect (`() => exo.engine.inspect()`). */
  readonly inspect?: () => CoreSnapshot;
  /** Wall clock in ms since the epoch, for `timeLeftMs` and `lastSeenAgoMs`; default Date.now. */
  readonly now?: () => number;
}

export type OpsRoutes = (req: IncomingMessage, res: ServerResponse, path: string) => boolean;

const NO_STORE = { 'Cache-Control': 'no-store' };

export function opsRoutes(options: OpsRoutesOptions): OpsRoutes {
  const now = options.now ?? Date.now;
  const admin =
    options.adminToken != null && options.inspect !== undefined
      ? { token: options.adminToken, inspect: options.inspect }
      : null;

  return (req, res, path) => {
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...NO_STORE, ...headers });
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify(body));
      return true;
    };
    const isRooms = path === '/rooms' || path.startsWith('/rooms/');
    const known =
      (path === '/metrics' && options.metrics !== undefined) ||
      (admin !== null && (isRooms || path === '/inspector'));
    if (!known) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return json(405, { ok: false, error: 'method not allowed' }, { Allow: 'GET, HEAD' });
    }

    if (path === '/metrics') {
      options.metrics!.scrape().then(
        ({ contentType, body }) => {
          res.writeHead(200, { 'Content-Type': contentType, ...NO_STORE });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        (err: unknown) => json(500, { ok: false, error: `metrics failed: ${String(err)}` }),
      );
      return true;
    }
    if (path === '/inspector') {
      res.writeHead(200, {
        'Content-Type': 'text/html; charset=utf-8',
        'Content-Security-Policy': INSPECTOR_CSP,
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
        ...NO_STORE,
      });
      res.end(req.method === 'HEAD' ? undefined : INSPECTOR_HTML);
      return true;
    }

    if (!tokenMatches(bearerToken(req.headers.authorization), admin!.token)) {
      return json(
        401,
        { ok: false, error: 'unauthorized' },
        { 'WWW-Authenticate': 'Bearer realm="exo-admin"' },
      );
    }
    const snapshot = admin!.inspect();
    if (path === '/rooms') return json(200, roomSummaries(snapshot, now()));
    const roomId = decodeRoomId(path.slice('/rooms/'.length));
    const room = roomId === null ? undefined : snapshot.rooms.find((r) => r.roomId === roomId);
    if (room === undefined) return json(404, { ok: false, error: 'no such room' });
    return json(200, roomDetail(room, now()));
  };
}

function decodeRoomId(segment: string): string | null {
  try {
    const id = decodeURIComponent(segment);
    return id === '' || id.includes('/') ? null : id;
  } catch {
    // A malformed percent-encoding names no room: the answer is 404, not a failure.
    return null;
  }
}
