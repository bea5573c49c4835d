import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Playground, startPlayground } from '../src/server/serve.js';

const root = fileURLToPath(new URL('..', import.meta.url));
let playground: Playground;

beforeAll(async () => {
  playground = await startPlayground({ root, port: 0, defaultServerUrl: 'ws://example.test:9000/"x"' });
}, 30_000);
afterAll(() => playground.close());

describe('the playground server', () => {
  it('serves the page with the default daemon URL filled in, escaped', async () => {
    const res = await fetch(playground.url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await res.text();
    expect(html).toContain('<meta name="exo-default-url" content="ws://example.test:9000/&quot;x&quot;" />');
    expect(html).toContain('<script type="module" src="/app.js"></script>');
  });

  it('serves the browser code bundled into one module, @exo/client included', async () => {
    const res = await fetch(new URL('/app.js?v=1', playground.url));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const js = await res.text();
    expect(js).not.toMatch(/^\s*import\s/m);
    expect(js).toContain('exo.v1');
    expect(js).toContain('sourceMappingURL=data:application/json');
  });

  it('answers 404 for any other path and 405 for other methods', async () => {
    expect((await fetch(new URL('/../package.json', playground.url))).status).toBe(404);
    expect((await fetch(new URL('/src/browser/main.ts', playground.url))).status).toBe(404);
    expect((await fetch(playground.url, { method: 'POST' })).status).toBe(405);
  });
});
