// `pnpm gen:protocol`: writes docs/schemas/*.json and docs/asyncapi.yaml from the valibot schemas,
// removing schema files no message produces any more. Run from anywhere inside the repository: the
// root is the nearest folder with pnpm-workspace.yaml.
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generatedFiles } from './generate.js';

function repoRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no pnpm-workspace.yaml above ${from}`);
  }
}

const root = repoRoot(process.cwd());
const files = generatedFiles();
const schemaDir = join(root, 'docs/schemas');
const wanted = new Set(files.map((f) => join(root, f.path)));
if (existsSync(schemaDir)) {
  for (const name of readdirSync(schemaDir)) {
    const path = join(schemaDir, name);
    if (name.endsWith('.json') && !wanted.has(path)) rmSync(path);
  }
}
for (const file of files) {
  const path = join(root, file.path);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, file.text);
}
process.stdout.write(`wrote ${files.length} files under ${root}/docs\n`);
