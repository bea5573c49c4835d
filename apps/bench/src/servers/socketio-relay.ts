// Baseline 2: the same semantics on Socket.IO 4 with rooms. join puts the socket in the room,
// join_viewer in a room per (room, planet), and a camera is broadcast with `socket.to(planet)`,
// which encodes the packet once and writes the same pre-built WebSocket frame to every member.
// WebSocket transport only (no long-polling), permessage-deflate off, acks as callbacks.

import { Server } from 'socket.io';

interface Payload {
  roomId?: string;
  planetId?: string;
  user?: { userId: string };
  camera?: unknown;
  ts?: number;
}
type Ack = ((answer: object) => void) | undefined;

const port = Number(process.env.PORT ?? 8091);
const io = new Server(port, {
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
  maxHttpBufferSize: 16384,
});

io.on('connection', (socket) => {
  let roomId = '';
  let userId = '';
  socket.on('join', (msg: Payload, ack: Ack) => {
    roomId = msg.roomId ?? '';
    userId = msg.user?.userId ?? '';
    socket.join(roomId);
    ack?.({ op: 'join', ok: true });
  });
  socket.on('join_viewer', (msg: Payload, ack: Ack) => {
    socket.join(`${roomId}\u0000${msg.planetId}`);
    ack?.({ op: 'join_viewer', ok: true });
  });
  socket.on('camera', (msg: Payload) => {
    socket
      .to(`${roomId}\u0000${msg.planetId}`)
      .emit('camera', { planetId: msg.planetId, camera: msg.camera, userId });
  });
  socket.on('heartbeat', (msg: Payload, ack: Ack) => {
    ack?.({ op: 'heartbeat', ok: true, ts: msg.ts, serverTs: Date.now() });
  });
});

process.on('SIGTERM', () => {
  io.close();
  process.exit(0);
});
