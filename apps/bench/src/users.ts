// One simulated user per connection, in either wire: our JSON protocol over `ws` (spoken by the
// exo daemon and the bare relay) or Socket.IO events (the same messages as event payloads, with
// acknowledgement callbacks as acks). A user joins its room, views the room's planet, then sends
// cameras with its send time in position[0] and its server's mark in position[1] (see ipc.ts),
// and a heartbeat every 30 s (CONTRACT §7).

import { io, type Socket } from 'socket.io-client';
import WebSocket from 'ws';
import { originMark, originOf, type Wire } from './ipc.js';

const HANDSHAKE_TIMEOUT_MS = 15_000;
const CAMERA_TYPE = Buffer.from('{"type":"camera"');
const POSITION = Buffer.from('"position":[');

export interface UserEvents {
  /** A camera relay arrived: the sender's send time (µs, monotonic) and server index. */
  relay(sentUs: number, origin: number): void;
  error(code: string): void;
  closed(code: number): void;
}

export interface SimUser {
  readonly userId: string;
  /** Sends one camera stamped `sentUs`. */
  camera(sentUs: number): void;
  heartbeat(): void;
  close(): void;
}

export interface UserPlan {
  readonly wire: Wire;
  readonly url: string;
  readonly roomId: string;
  readonly userId: string;
  readonly planetId: string;
  /** The index of the server process this user connects to (0 with one server). */
  readonly origin: number;
}

export function connectUser(plan: UserPlan, events: UserEvents): Promise<SimUser> {
  return plan.wire === 'ws' ? connectWs(plan, events) : connectSio(plan, events);
}

function cameraOf(sentUs: number, origin: number): object {
  return { position: [sentUs, originMark(origin), 10], target: [0, 0, 0], up: [0, 1, 0], fov: 50 };
}

async function connectWs(plan: UserPlan, events: UserEvents): Promise<SimUser> {
  const { roomId, userId, planetId } = plan;
  const ws = new WebSocket(plan.url, ['exo.v1'], { perMessageDeflate: false });
  let waiting: { op: string; resolve: () => void; reject: (err: Error) => void } | null = null;
  ws.on('message', (data: Buffer) => {
    if (data[9] === 0x63 && data.indexOf(CAMERA_TYPE) === 0) {
      const at = data.indexOf(POSITION, 20);
      const comma = at > 0 ? data.indexOf(0x2c, at + 12) : -1;
      if (comma > 0) {
        const sentUs = Number.parseFloat(data.toString('latin1', at + 12, comma));
        return events.relay(
          sentUs,
          originOf(Number.parseFloat(data.toString('latin1', comma + 1, comma + 4))),
        );
      }
    }
    const msg = JSON.parse(data.toString()) as { type: string; op?: string; code?: string };
    if (msg.type === 'error') events.error(msg.code ?? 'unknown');
    if (waiting !== null && msg.op === waiting.op) {
      const w = waiting;
      waiting = null;
      if (msg.type === 'ack') w.resolve();
      else w.reject(new Error(`${w.op} refused: ${msg.code ?? msg.type}`));
    }
  });
  ws.on('error', () => events.error('socket'));
  ws.on('close', (code: number) => {
    waiting?.reject(new Error(`closed with ${code}`));
    events.closed(code);
  });
  const request = (op: string, message: object) =>
    new Promise<void>((resolve, reject) => {
      waiting = { op, resolve, reject };
      ws.send(JSON.stringify(message));
    });
  await withTimeout(
    (async () => {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      await request('join', { type: 'join', roomId, user: { userId } });
      await request('join_viewer', { type: 'join_viewer', planetId, userId });
    })(),
    () => ws.terminate(),
  );
  const prefix = `{"type":"camera","planetId":${JSON.stringify(planetId)},"userId":${JSON.stringify(userId)},"camera":{"position":[`;
  const suffix = `,${originMark(plan.origin)},10],"target":[0,0,0],"up":[0,1,0],"fov":50}}`;
  return {
    userId,
    camera(sentUs) {
      if (ws.readyState === WebSocket.OPEN) ws.send(prefix + sentUs + suffix);
    },
    heartbeat() {
      if (ws.readyState === WebSocket.OPEN) {
        ws.send(JSON.stringify({ type: 'heartbeat', userId, ts: Date.now() }));
      }
    },
    close() {
      ws.terminate();
    },
  };
}

async function connectSio(plan: UserPlan, events: UserEvents): Promise<SimUser> {
  const { roomId, userId, planetId } = plan;
  const socket: Socket = io(plan.url, {
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
    timeout: HANDSHAKE_TIMEOUT_MS,
  });
  socket.on('camera', (msg: { camera: { position: number[] } }) =>
    events.relay(msg.camera.position[0]!, originOf(msg.camera.position[1]!)),
  );
  socket.on('error', (msg: { code?: string }) => events.error(msg.code ?? 'unknown'));
  socket.on('connect_error', () => events.error('socket'));
  socket.on('disconnect', (reason: string) => events.closed(reason === 'io client disconnect' ? 1000 : 1006));
  await withTimeout(
    (async () => {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('connect_error', reject);
      });
      await socket
        .timeout(HANDSHAKE_TIMEOUT_MS)
        .emitWithAck('join', { type: 'join', roomId, user: { userId } });
      await socket
        .timeout(HANDSHAKE_TIMEOUT_MS)
        .emitWithAck('join_viewer', { type: 'join_viewer', planetId, userId });
    })(),
    () => socket.close(),
  );
  return {
    userId,
    camera(sentUs) {
      socket.emit('camera', { type: 'camera', planetId, userId, camera: cameraOf(sentUs, plan.origin) });
    },
    heartbeat() {
      socket.emit('heartbeat', { type: 'heartbeat', userId, ts: Date.now() }, () => {});
    },
    close() {
      socket.close();
    },
  };
}

async function withTimeout<T>(work: Promise<T>, abort: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort();
      reject(new Error('handshake timed out'));
    }, HANDSHAKE_TIMEOUT_MS);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
