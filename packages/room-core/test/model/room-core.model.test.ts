// Model-based tests of the core: random sequences of joins, leaves, disconnects, takeovers,
// selections, viewers, cameras, heartbeats, malformed frames and clock moves over five users, two
// rooms and three planets, with durations short enough for every deadline to come due. After
// every step the driver compares the core with the model and checks the invariants (driver.ts).
// On failure fast-check prints the seed, the path and the commands' replayPath; pass them back as
// FC_SEED, FC_PATH and FC_REPLAY_PATH to replay the shrunk case.

import fc from 'fast-check';
import { describe, it } from 'vitest';
import type { CoreConfig } from '../../src/index.js';
import { commandArb, MAX_COMMANDS, runParameters } from './commands.js';
import { Driver } from './driver.js';
import { Model } from './model.js';

const START = 1_000_000;

const SHORT: Partial<CoreConfig> = {
  lockTtlMs: 1000,
  presenceTimeoutMs: 3000,
  joinTimeoutMs: 2000,
  maxRoomUsers: 3,
  maxViewedPlanets: 2,
  cameraMinIntervalMs: 50,
};

function runModel(config: Partial<CoreConfig>, numRuns: number): void {
  const { params, replayPath } = runParameters(numRuns);
  const commands = fc.commands([commandArb], {
    maxCommands: MAX_COMMANDS,
    size: 'max',
    ...(replayPath === undefined ? {} : { replayPath }),
  });
  fc.assert(
    fc.property(commands, (cmds) => {
      fc.modelRun(() => {
        const real = new Driver(config, START);
        return { model: new Model(real.config, START), real };
      }, cmds);
    }),
    params,
  );
}

describe('room-core against a model of rooms, locks, viewers and time', () => {
  it('agrees with the model and keeps every invariant with exclusive locks and no reconnect grace', () => {
    runModel({ ...SHORT, reconnectGraceMs: 0 }, 200);
  });

  it('agrees with the model and keeps every invariant with exclusive locks and a 500 ms reconnect grace', () => {
    runModel({ ...SHORT, reconnectGraceMs: 500 }, 200);
  });

  it('agrees with the model and keeps every invariant with shared selections and a reconnect grace', () => {
    runModel({ ...SHORT, selectionMode: 'shared', reconnectGraceMs: 500 }, 100);
  });
});
