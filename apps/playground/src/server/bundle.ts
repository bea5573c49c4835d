// Bundles the page's TypeScript (src/browser/main.ts and everything it imports, @exo/client and
// @exo/protocol included) into one ES module, in memory, with esbuild. Workspace packages resolve
// to their sources through the `@exo/source` export condition, so nothing needs building first.

import { join } from 'node:path';
import { build } from 'esbuild';

export async function bundleBrowserCode(root: string): Promise<string> {
  const result = await build({
    absWorkingDir: root,
    entryPoints: [join(root, 'src/browser/main.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['@exo/source'],
    sourcemap: 'inline',
    write: false,
    outfile: 'app.js',
    logLevel: 'silent',
  });
  const output = result.outputFiles[0];
  if (output === undefined) throw new Error('esbuild produced no output for src/browser/main.ts');
  return output.text;
}
