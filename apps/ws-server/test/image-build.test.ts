// No Docker engine runs here, so the image's build is rehearsed instead: the Dockerfile's own build
// stage RUN lines (read from the file, so the two cannot drift) run in a copy of the tracked tree,
// then every path the runtime stage copies must exist and the image's CMD must serve /health from
// the pruned, production-only tree. Only `npm install -g pnpm` is skipped: pnpm runs these tests.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');

/** Instructions of one stage, continuation lines joined. */
function stage(name: string): string[] {
  const joined = dockerfile.replace(/\\\n\s*/g, ' ').split('\n');
  const start = joined.findIndex((line) => new RegExp(`^FROM \\S+ AS ${name}$`).test(line.trim()));
  expect(start, `stage ${name} in the Dockerfile`).toBeGreaterThanOrEqual(0);
  const rest = joined.slice(start + 1);
  const end = rest.findIndex((line) => line.startsWith('FROM '));
  return (end < 0 ? rest : rest.slice(0, end)).map((line) => line.trim()).filter((line) => line !== '');
}

const work = mkdtempSync(join(tmpdir(), 'exo-image-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the Dockerfile, rehearsed without Docker', () => {
  it('builds with the build stage’s own commands, keeps what the runtime stage copies, and serves /health', async () => {
    // The tracked tree as it is now (what `COPY . .` sees, given .dockerignore leaves out builds).
    execFileSync('bash', ['-c', `git ls-files -z | tar --null -T - -cf - | tar -xf - -C '${work}'`], {
      cwd: REPO_ROOT,
    });
    const runs = stage('build')
      .filter((line) => line.startsWith('RUN '))
      .map((line) => line.slice(4));
    expect(runs).toContain('pnpm install --frozen-lockfile');
    expect(runs).toContain('pnpm build');
    for (const command of runs.filter((c) => !c.startsWith('npm install -g pnpm'))) {
      execFileSync('bash', ['-c', command], { cwd: work, stdio: 'pipe' });
    }

    const copied = stage('runtime')
      .filter((line) => line.startsWith('COPY --from=build'))
      .flatMap((line) => line.split(/\s+/).slice(3, -1))
      .map((path) => path.replace(/^\/app\/?/, ''));
    expect(copied.length).toBeGreaterThan(5);
    expect(copied.filter((path) => !existsSync(join(work, path)))).toEqual([]);
    // Production only: no test runner or compiler in the runtime tree.
    expect(existsSync(join(work, 'node_modules/vitest'))).toBe(false);
    expect(existsSync(join(work, 'node_modules/typescript'))).toBe(false);

    const cmd = JSON.parse(
      stage('runtime')
        .find((line) => line.startsWith('CMD '))!
        .slice(4),
    ) as string[];
    expect(cmd[0]).toBe('node');
    const daemon = spawn(process.execPath, cmd.slice(1), {
      cwd: work,
      env: { PATH: process.env.PATH, WS_PORT: '0', HEALTH_PORT: '0', HOST: '127.0.0.1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const healthPort = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the daemon did not log its ports')), 10_000);
        createInterface({ input: daemon.stdout! }).on('line', (line) => {
          const entry = JSON.parse(line) as { msg?: string; healthPort?: number };
          if (entry.msg === 'listening' && entry.healthPort !== undefined) {
            clearTimeout(timer);
            resolve(entry.healthPort);
          }
        });
        daemon.once('exit', (code) => reject(new Error(`the daemon exited with ${code}`)));
      });
      const health = await fetch(`http://127.0.0.1:${healthPort}/health`);
      expect(await health.text()).toBe('{"ok":true}');
    } finally {
      daemon.kill('SIGTERM');
    }
  }, 120_000);
});
