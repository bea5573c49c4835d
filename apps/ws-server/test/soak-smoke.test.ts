// A three-second `pnpm soak`: the same driver and daemon (compiled from soak/ against the dist/
// that global-setup.ts builds), churn over loopback, then every check of the soak — nothing left in
// the engine or the adapter, RSS back within 10%, a clean daemon log — must pass. The five-minute
// run and its figures are in docs/benchmarks.md.

import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const APP = fileURLToPath(new URL('..', import.meta.url));
const SOAK = fileURLToPath(new URL('../soak/dist/soak.js', import.meta.url));

/** The soak is type-checked here too: it is not part of the app's tsconfig (it builds against dist/). */
function compileSoak(): void {
  try {
    execFileSync('pnpm', ['exec', 'tsc', '-p', 'soak/tsconfig.json'], {
      cwd: APP,
      encoding: 'utf8',
      stdio: 'pipe',
    });
  } catch (err) {
    const { stdout, stderr } = err as { stdout?: string; stderr?: string };
    throw new Error(`compiling the soak failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

function run(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SOAK], {
      cwd: APP,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.once('close', (code) => resolve({ code, output }));
  });
}

it('passes every soak check after three seconds of churn', async () => {
  compileSoak();
  const { code, output } = await run({ SOAK_SECONDS: '3', SOAK_CLIENTS: '24' });
  expect(code, output).toBe(0);
  expect(output).toContain('soak passed');
  expect(output).not.toContain('FAIL');
  for (const check of [
    'nothing left at the end: all zero',
    'RSS at the end within 10%',
    'no error or fatal line',
  ]) {
    expect(output).toContain(`PASS  ${check}`);
  }
}, 30_000);
