// The churn: `clients` actors, each running one session after another until told to stop. A
// session is a WebSocket that joins a (room, user) drawn from a small pool — so users collide and
// get FORBIDDEN, take each other over with the resumeToken, and fill rooms — then does random
// things at a pace within the general rate budget (heartbeats, selects and conflicts, viewers,
// bursts of cameras under CAMERA_RATE_MAX, profile updates, garbage frames, takeovers of itself,
// reconnects within the grace), and ends one of many ways: a clean close, leave then close,
// ws.terminate(), a TCP reset, going idle until presence expiry (4008) or the join timeout (4002),
// an oversized frame (1009), a flood (1008). A few sessions are raw TCP instead: half handshakes,
// junk HTTP, invalid WebSocket frames. Every wait is bounded and ends early when the churn stops.

import { setTimeout as sleepFor } from 'node:timers/promises';
import { rawConnect, SoakClient, type Sockets, socketClosed, type Tally } from './clients.js';

export interface ChurnOptions {
  readonly port: number;
  readonly clients: number;
  readonly rooms: number;
  readonly usersPerRoom: number;
  readonly planets: number;
  /** The daemon's timers, to know how long an idle client waits for its close. */
  readonly presenceTimeoutMs: number;
  readonly joinTimeoutMs: number;
  readonly reconnectGraceMs: number;
  readonly maxMessageBytes: number;
  readonly random: () => number;
}

/** Runs the churn until `stop` resolves; resolves once every actor has finished. */
export async function churn(
  options: ChurnOptions,
  tally: Tally,
  sockets: Sockets,
  stop: Promise<void>,
): Promise<void> {
  let stopping = false;
  const stopped = stop.then(() => {
    stopping = true;
  });
  const ctx: Ctx = {
    ...options,
    url: `ws://127.0.0.1:${options.port}/`,
    tally,
    sockets,
    tokens: new Map(),
    stopping: () => stopping,
    sleep: (ms) => Promise.race([sleepFor(ms), stopped]),
  };
  const actors = Array.from({ length: options.clients }, (_, i) => actor(ctx, i));
  await Promise.all(actors);
}

interface Ctx extends ChurnOptions {
  readonly url: string;
  readonly tally: Tally;
  readonly sockets: Sockets;
  /** The latest resumeToken seen per `room/user`, shared by all actors: how they take each other over. */
  readonly tokens: Map<string, string>;
  stopping(): boolean;
  sleep(ms: number): Promise<unknown>;
}

async function actor(ctx: Ctx, index: number): Promise<void> {
  // Spread the first connections over a second rather than opening them all at once.
  await ctx.sleep(Math.floor(ctx.random() * 1000) + index);
  while (!ctx.stopping()) {
    try {
      if (ctx.random() < 0.06) await rawSession(ctx);
      else await session(ctx);
    } catch (err) {
      if (ctx.tally.driverErrors.length < 20) ctx.tally.driverErrors.push(String(err));
    }
    // A user does not reconnect within the same millisecond, and a failing open must not spin.
    await ctx.sleep(between(ctx, 10, 200));
  }
}

const int = (ctx: Ctx, below: number) => Math.floor(ctx.random() * below);
const between = (ctx: Ctx, min: number, max: number) => min + int(ctx, max - min + 1);

function weighted<T extends string>(ctx: Ctx, weights: Readonly<Record<T, number>>): T {
  const entries = Object.entries(weights) as [T, number][];
  let roll = ctx.random() * entries.reduce((sum, [, w]) => sum + w, 0);
  for (const [key, weight] of entries) {
    roll -= weight;
    if (roll < 0) return key;
  }
  return entries[entries.length - 1]![0];
}

interface Seat {
  readonly roomId: string;
  readonly userId: string;
  readonly key: string;
  client: SoakClient;
  /** Planets this session views (as far as it knows). */
  readonly viewing: Set<string>;
  profile: number;
}

async function join(ctx: Ctx, client: SoakClient, seat: Omit<Seat, 'client' | 'viewing'>, token?: string) {
  const name = `${seat.userId} ${seat.profile}`;
  const answer = await client.request({
    type: 'join',
    roomId: seat.roomId,
    user: { userId: seat.userId, name, color: '#4a9' },
    ...(token === undefined ? {} : { resumeToken: token }),
  });
  if (answer?.type === 'ack' && typeof answer.resumeToken === 'string')
    ctx.tokens.set(seat.key, answer.resumeToken);
  return answer;
}

async function session(ctx: Ctx): Promise<void> {
  const client = await SoakClient.open(ctx.url, ctx.tally, ctx.sockets);
  if (client === null) return;
  const roomId = `room-${int(ctx, ctx.rooms)}`;
  const userId = `user-${int(ctx, ctx.usersPerRoom)}`;
  const base = { roomId, userId, key: `${roomId}/${userId}`, profile: int(ctx, 3) };
  let answer = await join(ctx, client, base);
  if (answer?.type === 'error' && answer.code === 'FORBIDDEN' && ctx.random() < 0.5) {
    // Someone holds this user: take it over with the token it last got, as a second device would.
    const token = ctx.tokens.get(base.key);
    if (token !== undefined) {
      ctx.tally.count(ctx.tally.scenarios, 'takeover of another actor');
      answer = await join(ctx, client, base, token);
    }
  }
  if (answer?.type !== 'ack') {
    ctx.tally.count(ctx.tally.scenarios, `join refused (${String(answer?.code ?? 'no answer')})`);
    client.ws.close(1000);
    await client.closedWithin(2000);
    return;
  }
  const seat: Seat = { ...base, client, viewing: new Set(answer.viewing as string[]) };
  const steps = between(ctx, 3, 40);
  for (let i = 0; i < steps && seat.client.open && !ctx.stopping(); i++) {
    await ctx.sleep(between(ctx, 150, 450));
    if (!seat.client.open || ctx.stopping()) break;
    await step(ctx, seat);
  }
  if (seat.client.open && !ctx.stopping()) await end(ctx, seat);
}

const STEPS = {
  heartbeat: 20,
  select: 15,
  unselect: 5,
  joinViewer: 10,
  leaveViewer: 5,
  cameras: 15,
  garbage: 8,
  profile: 5,
  rejoin: 3,
  wrongUser: 3,
  takeover: 3,
  reconnect: 3,
} as const;

async function step(ctx: Ctx, seat: Seat): Promise<void> {
  const kind = weighted(ctx, STEPS);
  ctx.tally.count(ctx.tally.scenarios, `step: ${kind}`);
  const { client, userId } = seat;
  const planetId = `planet-${int(ctx, ctx.planets)}`;
  switch (kind) {
    case 'heartbeat':
      await client.request({ type: 'heartbeat', userId, ts: Date.now() });
      return;
    case 'select':
      await client.request({ type: 'select', planetId, userId });
      return;
    case 'unselect':
      await client.request({ type: 'unselect', planetId, userId });
      return;
    case 'joinViewer':
      if ((await client.request({ type: 'join_viewer', planetId, userId }))?.type === 'ack') {
        seat.viewing.add(planetId);
      }
      return;
    case 'leaveViewer': {
      const viewed = [...seat.viewing][int(ctx, seat.viewing.size + 1)] ?? planetId;
      seat.viewing.delete(viewed);
      await client.request({ type: 'leave_viewer', planetId: viewed, userId });
      return;
    }
    case 'cameras':
      return cameras(ctx, seat);
    case 'garbage':
      client.send(garbage(ctx, userId));
      return;
    case 'profile':
      seat.profile++;
      await join(ctx, client, seat);
      return;
    case 'rejoin':
      await client.request({ type: 'leave', userId });
      seat.viewing.clear();
      await join(ctx, client, seat);
      return;
    case 'wrongUser':
      await client.request({ type: 'heartbeat', userId: `${userId}-not-me`, ts: 1 });
      return;
    case 'takeover':
      return takeover(ctx, seat, false);
    case 'reconnect':
      return takeover(ctx, seat, true);
  }
}

/**
 * Up to a second of cameras at 25 per second (the budget is 30) to a viewed planet; a session that
 * views none mostly starts viewing one first, and otherwise sends two (refused with NOT_VIEWING).
 */
async function cameras(ctx: Ctx, seat: Seat): Promise<void> {
  if (seat.viewing.size === 0 && ctx.random() < 0.8) {
    const planetId = `planet-${int(ctx, ctx.planets)}`;
    const answer = await seat.client.request({ type: 'join_viewer', planetId, userId: seat.userId });
    if (answer?.type === 'ack') seat.viewing.add(planetId);
  }
  const viewed = [...seat.viewing][int(ctx, seat.viewing.size)];
  const planetId = viewed ?? `planet-${int(ctx, ctx.planets)}`;
  const count = viewed === undefined ? 2 : between(ctx, 5, 25);
  for (let i = 0; i < count && seat.client.open && !ctx.stopping(); i++) {
    const x = ctx.random() * 100;
    seat.client.send({
      type: 'camera',
      planetId,
      userId: seat.userId,
      camera: { position: [x, 2, 10], target: [0, 0, 0], fov: 50 },
    });
    await ctx.sleep(40);
  }
}

/**
 * A second connection takes the user over with its resumeToken; the old one is closed with 4001
 * (`cut`: first dropped without a close, so the user sits in its reconnect grace meanwhile).
 */
async function takeover(ctx: Ctx, seat: Seat, cut: boolean): Promise<void> {
  const token = ctx.tokens.get(seat.key);
  if (token === undefined) return;
  const old = seat.client;
  if (cut) {
    old.ws.terminate();
    await old.closedWithin(2000);
    await ctx.sleep(int(ctx, Math.max(1, ctx.reconnectGraceMs / 2)));
  }
  const next = await SoakClient.open(ctx.url, ctx.tally, ctx.sockets);
  if (next === null) return;
  const answer = await join(ctx, next, seat, token);
  if (answer?.type !== 'ack') {
    next.ws.close(1000);
    await next.closedWithin(2000);
    return;
  }
  seat.client = next;
  seat.viewing.clear();
  for (const planetId of answer.viewing as string[]) seat.viewing.add(planetId);
  if (!cut) await old.closedWithin(2000);
}

const ENDS = {
  close: 20,
  leaveThenClose: 10,
  terminate: 15,
  reset: 10,
  idle: 8,
  joinTimeout: 3,
  oversize: 2,
  flood: 2,
} as const;

async function end(ctx: Ctx, seat: Seat): Promise<void> {
  const kind = weighted(ctx, ENDS);
  ctx.tally.count(ctx.tally.scenarios, `end: ${kind}`);
  const { client, userId } = seat;
  switch (kind) {
    case 'close':
      client.ws.close(1000);
      break;
    case 'leaveThenClose':
      await client.request({ type: 'leave', userId });
      client.ws.close(1000);
      break;
    case 'terminate':
      client.ws.terminate();
      break;
    case 'reset':
      // A TCP reset: the server sees ECONNRESET rather than a FIN.
      client.socket.resetAndDestroy();
      break;
    case 'idle':
      // Silent (pongs are automatic and do not count as seen) until the presence timeout closes it.
      await client.closedWithin(ctx.presenceTimeoutMs + 3000);
      break;
    case 'joinTimeout':
      await client.request({ type: 'leave', userId });
      await client.closedWithin(ctx.joinTimeoutMs + 3000);
      break;
    case 'oversize':
      client.send(JSON.stringify({ type: 'heartbeat', userId, ts: 1, pad: 'x'.repeat(ctx.maxMessageBytes) }));
      break;
    case 'flood':
      for (let i = 0; i < 400 && client.open; i++) client.send({ type: 'heartbeat', userId, ts: i });
      break;
  }
  if ((await client.closedWithin(3000)) === null) client.ws.terminate();
}

/** Frames that must be refused one way or another, the connection staying usable. */
function garbage(ctx: Ctx, userId: string): string | Buffer {
  const frames: (string | Buffer)[] = [
    'not json at all',
    '{"type": "heartbeat", "userId": ',
    '[1, 2, 3]',
    '"just a string"',
    '{"type": 42}',
    '{"type": "teleport", "userId": "x"}',
    '{"type": "select"}',
    `{"type": "heartbeat", "userId": "${userId}", "ts": 1, "__proto__": {"polluted": true}}`,
    `{"type": "join", "roomId": "__proto__", "user": {"userId": "constructor"}}`,
    `{"type": "camera", "planetId": "planet-0", "userId": "${userId}", "camera": {"position": [1e999, 0, 0]}}`,
    `{"type": "select", "planetId": "${'p'.repeat(200)}", "userId": "${userId}"}`,
    Buffer.from([0, 1, 2, 3, 255]),
    Buffer.from(Array.from({ length: 64 }, () => int(ctx, 256))).toString('latin1'),
  ];
  return frames[int(ctx, frames.length)]!;
}

const RAW = { halfHandshake: 3, junkHttp: 3, badFrames: 3, neverJoins: 2 } as const;

/** Sessions below the protocol: broken handshakes and frames, and a connection that never joins. */
async function rawSession(ctx: Ctx): Promise<void> {
  const kind = weighted(ctx, RAW);
  ctx.tally.count(ctx.tally.scenarios, `raw: ${kind}`);
  if (kind === 'neverJoins') {
    const client = await SoakClient.open(ctx.url, ctx.tally, ctx.sockets);
    if (client === null) return;
    client.send(garbage(ctx, 'nobody'));
    client.send({ type: 'heartbeat', userId: 'nobody', ts: 1 });
    if ((await client.closedWithin(ctx.joinTimeoutMs + 3000)) === null) client.ws.terminate();
    return;
  }
  if (kind === 'badFrames') {
    const client = await SoakClient.open(ctx.url, ctx.tally, ctx.sockets);
    if (client === null) return;
    // An unmasked frame with a reserved opcode: a protocol error (1002) for the server's parser.
    client.socket.write(Buffer.from([0x83, 0x03, 0x61, 0x62, 0x63]));
    ctx.tally.framesSent++;
    if ((await client.closedWithin(3000)) === null) client.ws.terminate();
    return;
  }
  const socket = await rawConnect(ctx.port, ctx.tally, ctx.sockets);
  if (socket === null) return;
  if (kind === 'halfHandshake') {
    socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n');
    await ctx.sleep(between(ctx, 50, 500));
    socket.destroy();
  } else {
    socket.write(
      `${Buffer.from(Array.from({ length: 200 }, () => int(ctx, 256))).toString('latin1')}\r\n\r\n`,
    );
    await socketClosed(socket, 2000);
    socket.destroy();
  }
}
