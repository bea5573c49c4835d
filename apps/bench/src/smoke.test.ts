// Smoke runs of the benchmarks: a few seconds of tiny load, asserting only that every server
// answered and relays arrived. They measure nothing: the benchmarks themselves are `pnpm bench`
// and `pnpm bench:cluster`, never part of `pnpm test`. The benchmarks run built code in separate
// processes, so the bench and the daemon it drives are compiled first, once for the file.
// The cluster run needs redis-server: without one it is skipped loudly, except under CI (which
// installs Redis), where it runs and fails.

import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

interface LoadResult {
  kind: string;
  processes: number;
  connections: number;
  sent: number;
  received: number;
  errors: Record<string, number>;
  local: { expected: number; received: number };
  cross: { expected: number; received: number };
}

interface SmokeResult {
  load: LoadResult[];
}

interface ClusterSmokeResult {
  results: Record<string, LoadResult>;
}

function runCli(mode: string): string {
  const out = execFileSync(process.execPath, [CLI, '--mode', mode], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 90_000,
  });
  return out.trim().split('\n').at(-1)!;
}

const redisServer = spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
if (!redisServer && !process.env.CI) {
  console.error(
    '\n⚠ the cluster benchmark smoke run is SKIPPED: redis-server not found; install it (apt-get install -y redis-server) — under CI it runs\n',
  );
}

beforeAll(() => {
  execFileSync('pnpm', ['--filter', '@exo/bench...', 'run', 'build'], { cwd: REPO_ROOT, stdio: 'pipe' });
}, 120_000);

describe('the fan-out benchmark, smoke run', () => {
  let result: SmokeResult;

  beforeAll(() => {
    result = JSON.parse(runCli('smoke')) as SmokeResult;
  }, 90_000);

  it('drives our daemon, the bare ws relay and Socket.IO, and each relays cameras to the other viewers', () => {
    expect(result.load.map((r) => r.kind)).toEqual(['exo', 'bare', 'socketio']);
    for (const r of result.load) {
      expect(r.connections, r.kind).toBe(6);
      expect(r.sent, r.kind).toBeGreaterThan(0);
      expect(r.received, r.kind).toBeGreaterThan(0);
      expect(r.errors, r.kind).toEqual({});
      expect(r.cross.expected, r.kind).toBe(0);
    }
  });
});

describe.skipIf(!redisServer && !process.env.CI)('the cluster benchmark, smoke run', () => {
  let result: ClusterSmokeResult;

  beforeAll(() => {
    result = JSON.parse(runCli('cluster-smoke')) as ClusterSmokeResult;
  }, 90_000);

  it('relays within one cluster-mode process, every relay local', () => {
    const one = result.results['redis-1']!;
    expect(one.processes).toBe(1);
    expect(one.connections).toBe(8);
    expect(one.received).toBeGreaterThan(0);
    expect(one.cross).toMatchObject({ expected: 0, received: 0 });
    expect(one.errors).toEqual({});
  });

  it('relays between two processes on one Redis: two of each sender’s three relays cross over', () => {
    const two = result.results['redis-2']!;
    expect(two.processes).toBe(2);
    expect(two.connections).toBe(8);
    // Rooms of 4 users, alternating between the processes: 1 other viewer beside, 2 across.
    expect(two.cross.expected).toBe(2 * two.local.expected);
    expect(two.cross.received).toBeGreaterThan(0);
    expect(two.local.received).toBeGreaterThan(0);
    expect(two.errors).toEqual({});
  });
});
