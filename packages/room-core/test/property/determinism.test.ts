// The core is a deterministic function of its commands (STYLE: step(state, command) → effects):
// the same commands stamped with the same times give byte-identical effects on two fresh
// engines, and reading the state between steps (inspect, nextDeadline, as a shell does) changes
// nothing. Commands here are raw and unguided (any frame text on any connection, closes of any
// kind, clock jumps); the model runs' recorded commands are replayed too.

import { parseClientMessage } from '@exo/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type CloseKind,
  type Command,
  type CoreConfig,
  CountingTokens,
  ManualClock,
  RoomEngine,
} from '../../src/index.js';
import { commandArb, MAX_COMMANDS, runParameters } from '../model/commands.js';
import { Driver, replay } from '../model/driver.js';
import { Model } from '../model/model.js';

const START = 1_000_000;
const CONFIG: Partial<CoreConfig> = {
  lockTtlMs: 1000,
  presenceTimeoutMs: 3000,
  joinTimeoutMs: 2000,
  reconnectGraceMs: 500,
  maxRoomUsers: 3,
  maxViewedPlanets: 2,
  cameraMinIntervalMs: 50,
  cameraRateMax: 5,
  rateLimitMax: 8,
  rateLimitWindowMs: 1000,
};

type Op =
  | { readonly dt: number; readonly kind: 'open' | 'tick' }
  | { readonly dt: number; readonly kind: 'close'; readonly conn: number; readonly how: CloseKind }
  | { readonly dt: number; readonly kind: 'frame'; readonly conn: number; readonly text: string };

const id = (ids: readonly string[]) => fc.constantFrom(...ids);
const userId = id(['u0', 'u1', 'u2', 'u3']);
const planetId = id(['p0', 'p1', '__proto__']);
const rid = fc.option(fc.oneof(fc.string({ maxLength: 3 }), fc.integer()), { nil: undefined });

const weighted = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });

const frameText: fc.Arbitrary<string> = fc.oneof(
  weighted(
    4,
    fc
      .record({
        roomId: id(['r0', 'r1']),
        user: fc.record({ userId }, { requiredKeys: ['userId'] }),
        resumeToken: fc.option(id(['t1', 't2', 't3', 't4', 't5', 't6']), { nil: undefined }),
        rid,
      })
      .map((m) => JSON.stringify({ type: 'join', ...m })),
  ),
  weighted(
    4,
    fc
      .record({ type: id(['select', 'unselect', 'join_viewer', 'leave_viewer']), planetId, userId, rid })
      .map((m) => JSON.stringify(m)),
  ),
  weighted(
    4,
    fc
      .record({ planetId, userId, x: fc.integer({ min: -9, max: 9 }), rid })
      .map(({ x, ...m }) => JSON.stringify({ type: 'camera', camera: { position: [x, 0, 0] }, ...m })),
  ),
  weighted(
    1,
    fc.record({ userId, ts: fc.integer(), rid }).map((m) => JSON.stringify({ type: 'heartbeat', ...m })),
  ),
  weighted(
    1,
    fc.record({ userId, rid }).map((m) => JSON.stringify({ type: 'leave', ...m })),
  ),
  weighted(
    1,
    fc.constantFrom('{', '[]', '{"type":7}', '{"type":"dance"}', '{"type":"camera","planetId":"p0"}'),
  ),
);

const dt = fc.oneof(
  { weight: 4, arbitrary: fc.constant(0) },
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 60 }) },
  { weight: 2, arbitrary: fc.integer({ min: 200, max: 1200 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1500, max: 4000 }) },
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: dt.map((d): Op => ({ dt: d, kind: 'open' })) },
  { weight: 1, arbitrary: dt.map((d): Op => ({ dt: d, kind: 'tick' })) },
  {
    weight: 1,
    arbitrary: fc
      .record({ dt, conn: fc.nat(3), how: id(['network', 'going_away', 'other']) as fc.Arbitrary<CloseKind> })
      .map((o): Op => ({ ...o, kind: 'close' })),
  },
  {
    weight: 10,
    arbitrary: fc.record({ dt, conn: fc.nat(3), text: frameText }).map((o): Op => ({ ...o, kind: 'frame' })),
  },
);

/**
 * The commands a list of operations stands for, built afresh on every call so no two engines
 * share a decoded message. Connections are opened under new names; frames and closes name any
 * connection opened so far, closed or not; joins carry the tokens t1, t2, … in order.
 */
function commandsOf(ops: readonly Op[]): Command[] {
  const commands: Command[] = [];
  let at = START;
  let opened = 0;
  let tokens = 0;
  for (const op of ops) {
    at += op.dt;
    const conn = `c${opened === 0 ? 0 : ('conn' in op ? op.conn : 0) % opened}`;
    switch (op.kind) {
      case 'open':
        commands.push({ type: 'open', conn: `c${opened++}`, at });
        break;
      case 'tick':
        commands.push({ type: 'tick', at });
        break;
      case 'close':
        commands.push({ type: 'close', conn, at, kind: op.how });
        break;
      case 'frame': {
        const input = parseClientMessage(op.text);
        const join = input.ok && input.message.type === 'join';
        commands.push(
          join
            ? { type: 'frame', conn, at, input, token: `t${++tokens}` }
            : { type: 'frame', conn, at, input },
        );
      }
    }
  }
  return commands;
}

function run(commands: readonly Command[], observe: boolean): string {
  const engine = new RoomEngine({
    config: CONFIG,
    clock: new ManualClock(START),
    tokens: new CountingTokens(),
  });
  return JSON.stringify(
    commands.map((command) => {
      if (observe) {
        engine.inspect();
        engine.nextDeadline();
      }
      return engine.apply(command);
    }),
  );
}

describe('determinism', () => {
  it('gives byte-identical effects for the same commands at the same times on two fresh engines', () => {
    const { params } = runParameters(200);
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: MAX_COMMANDS, size: 'max' }), (ops) => {
        expect(run(commandsOf(ops), false)).toBe(run(commandsOf(ops), false));
      }),
      params,
    );
  });

  it('gives the same effects whether or not the state is read between steps', () => {
    const { params } = runParameters(200);
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: MAX_COMMANDS, size: 'max' }), (ops) => {
        expect(run(commandsOf(ops), true)).toBe(run(commandsOf(ops), false));
      }),
      params,
    );
  });

  it('replays a model run on a fresh engine with the effects it had', () => {
    const { params, replayPath } = runParameters(100);
    const config = { ...CONFIG, cameraRateMax: 30, rateLimitMax: 60, rateLimitWindowMs: 10_000 };
    const commands = fc.commands([commandArb], {
      maxCommands: MAX_COMMANDS,
      size: 'max',
      ...(replayPath === undefined ? {} : { replayPath }),
    });
    fc.assert(
      fc.property(commands, (cmds) => {
        let real: Driver | undefined;
        fc.modelRun(() => {
          real = new Driver(config, START);
          return { model: new Model(real.config, START), real };
        }, cmds);
        const recorded = real!.effectLog;
        expect(replay(config, START, real!.trace)).toEqual(recorded);
        expect(replay(config, START, real!.trace)).toEqual(recorded);
      }),
      params,
    );
  });
});
