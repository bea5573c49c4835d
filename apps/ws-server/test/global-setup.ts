// Runs once before the ws-server project's tests: the daemon tests spawn the built
// `apps/ws-server/dist/main.js`, which imports the built @exo/protocol and @exo/room-core, so those
// three packages are compiled first — the daemon and its workspace dependencies only
// (`@exo/ws-server...`), so a package the daemon does not use cannot break these tests. A failed
// build stops the run with the compiler's output rather than letting the daemon tests fail later on
// a stale or missing dist/.

import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const BUILD = ['-r', '--filter', '@exo/ws-server...', 'run', 'build'];

export function setup(): void {
  try {
    execFileSync('pnpm', BUILD, { cwd: REPO_ROOT, encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    const { status, stdout, stderr } = err as { status?: number | null; stdout?: string; stderr?: string };
    throw new Error(
      `\`pnpm ${BUILD.join(' ')}\` in ${REPO_ROOT} failed (exit ${String(status)}); the daemon tests need it:\n` +
        `${stdout ?? ''}${stderr ?? ''}${stdout || stderr ? '' : String(err)}`,
    );
  }
}
