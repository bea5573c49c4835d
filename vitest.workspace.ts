import { defineConfig } from 'vitest/config';

// The one vitest config: `pnpm test` points here. Each package and app is a project that
// resolves workspace imports to TypeScript sources (the `@exo/source` export condition), so
// tests never need a prior build. vitest fails a run that collects no test files.
const project = (name: string, root: string, extra: Record<string, unknown> = {}) => ({
  extends: true as const,
  test: { name, root, include: ['src/**/*.test.ts', 'test/**/*.test.ts'], ...extra },
});

export default defineConfig({
  resolve: { conditions: ['@exo/source'] },
  ssr: { resolve: { conditions: ['@exo/source'] } },
  test: {
    passWithNoTests: false,
    allowOnly: false,
    // The JSON report lets .ci/run print one plain 'N passed, N failed' line.
    reporters: ['default', 'json'],
    outputFile: { json: 'artifacts/vitest-report.json' },
    projects: [
      project('protocol', 'packages/protocol'),
      project('room-core', 'packages/room-core'),
      project('ws-server', 'apps/ws-server', { globalSetup: ['test/global-setup.ts'] }),
      project('bench', 'apps/bench'),
      project('client', 'packages/client'),
      project('playground', 'apps/playground'),
    ],
  },
});
