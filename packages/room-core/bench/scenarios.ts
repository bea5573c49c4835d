// The benchmark's workloads, each a RoomEngine fed pre-decoded frames (decoding is the
// protocol package's cost, measured apart) with the clock moved by hand, as the daemon would
// stamp them. Presence is set to a year of simulated time so no member expires during a run:
// expiry is not what is measured. Every scenario checks, from the effects, that it really does what its name says.

import { type ClientMessage, type ParseResult, parseClientMessage } from '@exo/protocol';
import {
  type Command,
  type CoreConfig,
  CountingTokens,
  type Effect,
  ManualClock,
  RoomEngine,
} from '../src/index.js';
import type { Scenario } from './measure.js';

const START = 1_700_000_000_000;
const YEAR = 365 * 86_400_000;

const BENCH_CONFIG: Partial<CoreConfig> = { presenceTimeoutMs: YEAR, maxRooms: 20_000, maxRoomUsers: 20 };

/** A camera frame as the parser hands it over: each one a distinct object, as on the wire. */
function cameraFrames(userId: string, planetId: string, count: number): ParseResult[] {
  return Array.from({ length: count }, (_, i) =>
    parseClientMessage(
      JSON.stringify({
        type: 'camera',
        planetId,
        userId,
        camera: { position: [i, 2, 3], target: [0, 0, 0], quaternion: [0, 0, 0, 1], fov: 50 },
      }),
    ),
  );
}

function decoded(message: ClientMessage): ParseResult {
  const result = parseClientMessage(JSON.stringify(message));
  if (!result.ok) throw new Error(`bench: bad frame ${JSON.stringify(message)}: ${result.error.message}`);
  return result;
}

class Bench {
  readonly engine: RoomEngine;
  at = START;
  private tokens = 0;

  constructor(config: Partial<CoreConfig> = BENCH_CONFIG) {
    this.engine = new RoomEngine({ config, clock: new ManualClock(START), tokens: new CountingTokens() });
  }

  apply(command: Command): Effect[] {
    return this.engine.apply(command);
  }

  frame(conn: string, message: ClientMessage): Effect[] {
    const input = decoded(message);
    const token = message.type === 'join' ? `t${++this.tokens}` : undefined;
    const at = this.at;
    return this.apply(
      token === undefined ? { type: 'frame', conn, at, input } : { type: 'frame', conn, at, input, token },
    );
  }

  /** Opens a connection for `userId`, joins `roomId` and views `planetId`; expects each to succeed. */
  viewer(conn: string, roomId: string, userId: string, planetId: string): void {
    this.apply({ type: 'open', conn, at: this.at });
    expectAck(this.frame(conn, { type: 'join', roomId, user: { userId } }), 'join');
    expectAck(this.frame(conn, { type: 'join_viewer', planetId, userId }), 'join_viewer');
  }
}

function expectAck(effects: Effect[], op: string): void {
  const last = effects.at(-1);
  if (last?.type !== 'send' || last.message.type !== 'ack' || last.message.op !== op) {
    throw new Error(`bench: ${op} failed: ${JSON.stringify(effects)}`);
  }
}

/** Counts camera relays and their deliveries (one per recipient). */
function countRelays(effects: Effect[], tally: { relays: number; deliveries: number }): void {
  for (const effect of effects) {
    if (effect.type === 'send' && effect.message.type === 'camera') {
      tally.relays++;
      tally.deliveries += effect.to.length;
    }
  }
}

/**
 * (a) A full room: `users` members all viewing one planet, sending cameras in turn. `msPerCommand`
 * sets the pace: 3 ms with 20 users is one camera per user every 60 ms, past the 50 ms throttle,
 * so every camera is relayed at once to the 19 others; 1 ms per command (50 Hz per user, above the
 * 30/s camera budget) makes most cameras coalesce and go out when their interval ends.
 */
export function fullRoom(name: string, users: number, msPerCommand: number, perRound: number): Scenario {
  const b = new Bench();
  const frames: ParseResult[][] = [];
  for (let u = 0; u < users; u++) {
    b.viewer(`c${u}`, 'room', `u${u}`, 'planet');
    frames.push(cameraFrames(`u${u}`, 'planet', 64));
  }
  const tally = { relays: 0, deliveries: 0, commands: 0 };
  let i = 0;
  return {
    name,
    commandsPerRound: perRound,
    round() {
      let produced = 0;
      for (let n = 0; n < perRound; n++, i++) {
        const u = i % users;
        b.at += msPerCommand;
        const effects = b.apply({ type: 'frame', conn: `c${u}`, at: b.at, input: frames[u]![i & 63]! });
        produced += effects.length;
        countRelays(effects, tally);
      }
      tally.commands += perRound;
      return produced;
    },
    describe() {
      const share = ((100 * tally.relays) / tally.commands).toFixed(0);
      return `${share}% of cameras relayed, ${(tally.deliveries / Math.max(1, tally.relays)).toFixed(0)} recipients each`;
    },
  };
}

/**
 * (b) Join/select churn: a connection opens, joins one of 100 rooms, selects a planet, unselects
 * it, leaves and closes: six commands. With `residents`, each room keeps that many members who
 * see every change; without, each join creates its room and each leave removes it. The frames of
 * 1,000 such visitors are decoded beforehand and reused in turn (each visitor has left and closed
 * before its turn comes again).
 */
export function churn(name: string, residents: number, perRound: number): Scenario {
  const b = new Bench();
  const rooms = 100;
  for (let r = 0; r < rooms; r++) {
    for (let k = 0; k < residents; k++) b.viewer(`res-${r}-${k}`, `room${r}`, `res${k}`, 'planet');
  }
  const visitors = Array.from({ length: 1000 }, (_, k) => {
    const userId = `v${k}`;
    const planetId = `p${k % 7}`;
    return {
      conn: `x${k}`,
      join: decoded({ type: 'join', roomId: `room${k % rooms}`, user: { userId } }),
      select: decoded({ type: 'select', planetId, userId }),
      unselect: decoded({ type: 'unselect', planetId, userId }),
      leave: decoded({ type: 'leave', userId }),
    };
  });
  const iterations = Math.ceil(perRound / 6);
  let i = 0;
  let grants = 0;
  return {
    name,
    commandsPerRound: iterations * 6,
    round() {
      let produced = 0;
      for (let n = 0; n < iterations; n++, i++) {
        const v = visitors[i % visitors.length]!;
        const { conn } = v;
        const at = ++b.at;
        produced += b.apply({ type: 'open', conn, at }).length;
        produced += b.apply({ type: 'frame', conn, at, input: v.join, token: `t${i}` }).length;
        const selected = b.apply({ type: 'frame', conn, at, input: v.select });
        const ack = selected.at(-1);
        if (ack?.type === 'send' && ack.message.type === 'ack' && ack.message.op === 'select') grants++;
        produced += selected.length;
        produced += b.apply({ type: 'frame', conn, at, input: v.unselect }).length;
        produced += b.apply({ type: 'frame', conn, at, input: v.leave }).length;
        produced += b.apply({ type: 'close', conn, at, kind: 'other' }).length;
      }
      return produced;
    },
    describe() {
      return `${((100 * grants) / Math.max(1, i)).toFixed(0)}% of selects granted`;
    },
  };
}

/**
 * (c) The cost of a camera command while `otherRooms` other rooms exist, each with two viewers
 * who sent a camera: two viewers in the measured room send in turn, 25 ms apart, so every camera
 * is relayed at once to the other one.
 */
export function cameraAmongRooms(name: string, otherRooms: number, perRound: number): Scenario {
  const b = new Bench();
  for (let r = 0; r < otherRooms; r++) {
    for (const u of ['a', 'b']) {
      b.viewer(`o${r}${u}`, `other${r}`, u, 'planet');
      b.apply({ type: 'frame', conn: `o${r}${u}`, at: b.at, input: cameraFrames(u, 'planet', 1)[0]! });
    }
  }
  b.viewer('ca', 'room', 'ua', 'planet');
  b.viewer('cb', 'room', 'ub', 'planet');
  const frames = [cameraFrames('ua', 'planet', 64), cameraFrames('ub', 'planet', 64)];
  const conns = ['ca', 'cb'];
  const tally = { relays: 0, deliveries: 0, commands: 0 };
  let i = 0;
  return {
    name,
    commandsPerRound: perRound,
    round() {
      let produced = 0;
      for (let n = 0; n < perRound; n++, i++) {
        b.at += 25;
        const effects = b.apply({
          type: 'frame',
          conn: conns[i & 1]!,
          at: b.at,
          input: frames[i & 1]![i & 63]!,
        });
        produced += effects.length;
        countRelays(effects, tally);
      }
      tally.commands += perRound;
      return produced;
    },
    describe() {
      const rooms = b.engine.state.rooms.size;
      return `${rooms.toLocaleString('en-US')} rooms in all, ${((100 * tally.relays) / tally.commands).toFixed(0)}% relayed`;
    },
  };
}

/** For scale: decoding one camera frame, which the daemon does before the core sees it. */
export function parseCamera(name: string, perRound: number): Scenario {
  const texts = Array.from({ length: 64 }, (_, i) =>
    JSON.stringify({
      type: 'camera',
      planetId: 'planet',
      userId: 'u0',
      camera: { position: [i, 2, 3], target: [0, 0, 0], quaternion: [0, 0, 0, 1], fov: 50 },
    }),
  );
  let i = 0;
  return {
    name,
    commandsPerRound: perRound,
    round() {
      let ok = 0;
      for (let n = 0; n < perRound; n++, i++) if (parseClientMessage(texts[i & 63]!).ok) ok++;
      return ok;
    },
  };
}
