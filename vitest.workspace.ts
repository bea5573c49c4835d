import { spawnSync } from 'node:child_process';
import { defineConfig } from 'vitest/config';
import type { TestModule } from 'vitest/node';

// The one vitest config: `pnpm test` points here. Each package and app is a project that
// resolves workspace imports to TypeScript sources (the `@exo/source` export condition), so
// tests never need a prior build. vitest fails a run that collects no test files; the reporter
// below also fails a run that collected files but executed no test (a name filter matching
// nothing, every test skipped), so a green run always means tests ran.
const project = (name: string, root: string, extra: Record<string, unknown> = {}) => ({
  extends: true as const,
  test: { name, root, include: ['src/**/*.test.ts', 'test/**/*.test.ts'], ...extra },
});

const failWhenNothingRan = {
  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    let ran = 0;
    for (const module of modules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed' || state === 'failed') ran++;
      }
    }
    if (ran === 0) {
      console.error('No test ran: this run counts as a failure.');
      process.exitCode = 1;
    }
  },
};

// The wire tests run three times: in one process, and in cluster mode on an in-memory store and on
// a real Redis (the kit reads EXO_TEST_STORE): cluster mode must behave exactly as one process.
const WIRE_TESTS = ['src/*.wire.test.ts'];
const redisServer =
  Boolean(process.env.REDIS_URL) ||
  spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
if (!redisServer && !process.env.CI) {
  console.error(
    '\n⚠ cluster tests on Redis SKIPPED: redis-server not found; install it (apt-get install -y redis-server) — under CI they run\n',
  );
}
const clusterProjects = [
  project('ws-server:cluster-memory', 'apps/ws-server', {
    include: WIRE_TESTS,
    env: { EXO_TEST_STORE: 'memory' },
  }),
  ...(redisServer || process.env.CI
    ? [
        project('ws-server:cluster-redis', 'apps/ws-server', {
          include: WIRE_TESTS,
          env: { EXO_TEST_STORE: 'redis' },
          globalSetup: ['test/redis-global-setup.ts'],
        }),
      ]
    : []),
];

export default defineConfig({
  resolve: { conditions: ['@exo/source'] },
  ssr: { resolve: { conditions: ['@exo/source'] } },
  test: {
    passWithNoTests: false,
    allowOnly: false,
    // The JSON report lets .ci/run print one plain 'N passed, N failed' line.
    reporters: ['default', 'json', failWhenNothingRan],
    outputFile: { json: 'artifacts/vitest-report.json' },
    projects: [
      project('protocol', 'packages/protocol'),
      project('room-core', 'packages/room-core'),
      project('ws-server', 'apps/ws-server', { globalSetup: ['test/global-setup.ts'] }),
      ...clusterProjects,
      project('bench', 'apps/bench'),
      project('client', 'packages/client'),
      project('playground', 'apps/playground'),
    ],
  },
});
