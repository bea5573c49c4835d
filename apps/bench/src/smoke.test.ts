// A smoke run of the fan-out benchmark: a few seconds of tiny load against each of the three
// servers, asserting only that every server answered and relays arrived. It measures nothing: the
// benchmark itself is `pnpm bench`, never part of `pnpm test`. The benchmark runs built code in
// separate processes, so the bench and the daemon it drives are compiled first.

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

interface SmokeResult {
  load: {
    kind: string;
    connections: number;
    sent: number;
    received: number;
    errors: Record<string, number>;
  }[];
}

describe('the fan-out benchmark, smoke run', () => {
  let result: SmokeResult;

  beforeAll(() => {
    execFileSync('pnpm', ['--filter', '@exo/bench...', 'run', 'build'], { cwd: REPO_ROOT, stdio: 'pipe' });
    const out = execFileSync(process.execPath, [CLI, '--mode', 'smoke'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 90_000,
    });
    result = JSON.parse(out.trim().split('\n').at(-1)!) as SmokeResult;
  }, 150_000);

  it('drives our daemon, the bare ws relay and Socket.IO, and each relays cameras to the other viewers', () => {
    expect(result.load.map((r) => r.kind)).toEqual(['exo', 'bare', 'socketio']);
    for (const r of result.load) {
      expect(r.connections, r.kind).toBe(6);
      expect(r.sent, r.kind).toBeGreaterThan(0);
      expect(r.received, r.kind).toBeGreaterThan(0);
      expect(r.errors, r.kind).toEqual({});
    }
  });
});
