// Baseline 1: a bare `ws` relay, the practical limit of `ws` in Node. It speaks our wire format
// for join, join_viewer, heartbeat and camera, and nothing else: no validation, no throttling, no
// rate budgets, no locks, no presence. Each frame is JSON-parsed once; a camera is serialized once
// and the same string is handed to `send` of every other viewer of the planet.

import { createServer } from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';

interface Incoming {
  type?: string;
  roomId?: string;
  planetId?: string;
  user?: { userId: string };
  camera?: unknown;
  ts?: number;
}

interface Peer {
  roomId: string;
  userId: string;
  readonly planets: Set<Set<WebSocket>>;
}

const port = Number(process.env.PORT ?? 8090);
const viewersByPlanet = new Map<string, Set<WebSocket>>();
const http = createServer();
const wss = new WebSocketServer({
  server: http,
  perMessageDeflate: false,
  maxPayload: 16384,
  clientTracking: false,
});

wss.on('connection', (ws) => {
  const peer: Peer = { roomId: '', userId: '', planets: new Set() };
  ws.on('message', (data: Buffer) => {
    let msg: Incoming;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      return;
    }
    switch (msg.type) {
      case 'camera': {
        const viewers = viewersByPlanet.get(`${peer.roomId}\u0000${msg.planetId}`);
        if (viewers === undefined) return;
        const out = JSON.stringify({
          type: 'camera',
          planetId: msg.planetId,
          camera: msg.camera,
          userId: peer.userId,
        });
        for (const other of viewers) if (other !== ws) other.send(out);
        return;
      }
      case 'join':
        peer.roomId = msg.roomId ?? '';
        peer.userId = msg.user?.userId ?? '';
        return ws.send(JSON.stringify({ type: 'ack', op: 'join', ok: true }));
      case 'join_viewer': {
        const key = `${peer.roomId}\u0000${msg.planetId}`;
        let viewers = viewersByPlanet.get(key);
        if (viewers === undefined) {
          viewers = new Set();
          viewersByPlanet.set(key, viewers);
        }
        viewers.add(ws);
        peer.planets.add(viewers);
        return ws.send(JSON.stringify({ type: 'ack', op: 'join_viewer', ok: true }));
      }
      case 'heartbeat':
        return ws.send(
          JSON.stringify({ type: 'ack', op: 'heartbeat', ok: true, ts: msg.ts, serverTs: Date.now() }),
        );
    }
  });
  ws.on('error', () => {});
  ws.on('close', () => {
    for (const viewers of peer.planets) viewers.delete(ws);
  });
});

http.listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
