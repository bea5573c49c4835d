// `--mode cluster`: one workload against three setups of our daemon, in one run —
// (1) one process with REDIS_URL (cluster mode, every relay local), (2) two processes on the same
// Redis, each room's users alternating between them (half on each, so about half of every sender's
// relays cross to the other process), and (3) for reference one process without Redis. The run
// starts its own redis-server (stopped by PID at the end) and fails at once without one. Rounds
// interleave the setups, each window with fresh daemons and connections, and Redis is emptied
// (FLUSHALL) after each, so no room, user or process record outlives its window.

import { startRedis } from './redis.js';
import type { LoadOptions, LoadShape, ServerSpec, WindowResult } from './run.js';
import { pool, runLoadOn } from './run.js';

export type ClusterSetup = 'redis-1' | 'redis-2' | 'single';

export const CLUSTER_SETUPS: readonly ClusterSetup[] = ['redis-1', 'redis-2', 'single'];

export const SETUP_LABEL: Record<ClusterSetup, string> = {
  'redis-1': 'one process, REDIS_URL',
  'redis-2': 'two processes, one Redis',
  single: 'one process, no Redis',
};

export interface ClusterResult {
  readonly redisVersion: string;
  readonly results: ReadonlyMap<ClusterSetup, WindowResult>;
}

export interface ClusterOptions extends LoadOptions {
  readonly rounds: number;
  readonly setups: readonly ClusterSetup[];
}

function specs(setup: ClusterSetup, redisUrl: string): ServerSpec[] {
  const env = { REDIS_URL: redisUrl };
  switch (setup) {
    case 'redis-1':
      return [{ kind: 'exo', env, name: 'exo-redis-1' }];
    case 'redis-2':
      return [
        { kind: 'exo', env, name: 'exo-redis-2a' },
        { kind: 'exo', env, name: 'exo-redis-2b' },
      ];
    case 'single':
      return [{ kind: 'exo', name: 'exo-single' }];
  }
}

export async function runCluster(shape: LoadShape, options: ClusterOptions): Promise<ClusterResult> {
  const redis = await startRedis();
  try {
    const info = await redis.command('INFO', 'server');
    const redisVersion = /^redis_version:(\S+)/m.exec(info)?.[1] ?? '?';
    options.log(`redis-server ${redisVersion} on ${redis.url} (pid ${redis.pid})`);
    const windows = new Map<ClusterSetup, WindowResult[]>(options.setups.map((s) => [s, []]));
    for (let round = 0; round < options.rounds; round++) {
      for (const setup of options.setups) {
        const usesRedis = setup !== 'single';
        const r = await runLoadOn(specs(setup, redis.url), shape, options, usesRedis ? redis : null);
        await redis.command('FLUSHALL');
        options.log(
          `  ${setup} round ${round + 1}: ${Math.round(r.relaysPerSec)} relays/s, ` +
            `${((r.serverCpuSec * 1e6) / r.received).toFixed(2)} ms server CPU per 1000 relays, ` +
            `p99 ${r.p99.toFixed(1)} ms, load ${r.loadAverage}`,
        );
        windows.get(setup)!.push(r);
      }
    }
    return {
      redisVersion,
      results: new Map(options.setups.map((s) => [s, pool(windows.get(s)!)])),
    };
  } finally {
    await redis.stop();
  }
}
