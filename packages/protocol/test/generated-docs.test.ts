// The checked-in protocol documents are exactly what `pnpm gen:protocol` writes from the current
// valibot schemas: regenerating them changes nothing, and docs/schemas holds no stale file.
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generatedFiles } from '../scripts/generate.js';

const ROOT = new URL('../../../', import.meta.url);

describe('the generated protocol documents', () => {
  it.each(generatedFiles().map((f) => [f.path, f.text]))(
    '%s is up to date (run pnpm gen:protocol)',
    (path, text) => {
      expect(readFileSync(new URL(path, ROOT), 'utf8')).toBe(text);
    },
  );

  it('leaves no schema file that no message produces', () => {
    const expected = generatedFiles()
      .map((f) => f.path)
      .filter((p) => p.startsWith('docs/schemas/'))
      .map((p) => p.slice('docs/schemas/'.length))
      .sort();
    expect(readdirSync(new URL('docs/schemas/', ROOT)).sort()).toEqual(expected);
  });
});
