// The container files agree with the code (no Docker engine runs here, so this is what keeps them
// honest): docker-compose.yml names only variables the daemon reads (ENV_VARS), its daemons expose
// the default ports and point at its Redis; the Dockerfile builds as .ci/run installs, exposes the
// same ports, probes a path the health server answers and runs as a non-root user; HAProxy checks
// /ready on the health port and forwards to the compose daemons; docs/operations.md documents
// every variable and every exo_* metric.

import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { configFromEnv, ENV_VARS } from '../src/config.js';
import { createHealthServer } from '../src/http.js';
import { createServerMetrics } from '../src/metrics.js';

const ROOT = new URL('../../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, ROOT), 'utf8');
const DEFAULTS = configFromEnv({});

interface Service {
  build?: unknown;
  image?: string;
  environment?: Record<string, string | number | boolean | null>;
  expose?: (string | number)[];
  ports?: string[];
  volumes?: string[];
  healthcheck?: unknown;
}
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const daemons = Object.entries(compose.services).filter(([, s]) => s.build !== undefined);

/** A service's environment as the daemon sees it, `${VAR:-}` interpolations left empty. */
function envOf(service: Service): Record<string, string> {
  return Object.fromEntries(
    Object.entries(service.environment ?? {}).map(([k, v]) => [
      k,
      String(v ?? '').replace(/\$\{[^}]*\}/g, ''),
    ]),
  );
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function instructions(text: string): { keyword: string; args: string }[] {
  const joined = text.replace(/\\\r?\n/g, ' ');
  return joined
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const [keyword, ...rest] = line.split(/\s+/);
      return { keyword: keyword!.toUpperCase(), args: rest.join(' ') };
    });
}
const dockerfile = instructions(read('Dockerfile'));
const args = (keyword: string) => dockerfile.filter((i) => i.keyword === keyword).map((i) => i.args);
const haproxy = read('apps/ws-server/deploy/haproxy.cfg');
const ciRun = read('.ci/run');
const operations = read('docs/operations.md');

let healthBase = '';
const health = createHealthServer({ ready: () => ({ ok: true }) });
beforeAll(async () => {
  await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
  healthBase = `http://127.0.0.1:${(health.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => health.close(() => resolve()));
});

describe('docker-compose.yml', () => {
  it('runs two daemons built from the Dockerfile, plus Redis and HAProxy', () => {
    expect(daemons.map(([name]) => name)).toEqual(['exo-1', 'exo-2']);
    expect(Object.keys(compose.services).sort()).toEqual(['exo-1', 'exo-2', 'haproxy', 'redis']);
  });

  it('sets only variables the daemon reads, each with a value it accepts', () => {
    for (const [name, service] of daemons) {
      const env = envOf(service);
      expect(
        Object.keys(env).filter((key) => !ENV_VARS.includes(key)),
        name,
      ).toEqual([]);
      expect(() => configFromEnv(env), name).not.toThrow();
    }
  });

  it("points every daemon's REDIS_URL at the compose Redis", () => {
    for (const [name, service] of daemons) {
      const url = new URL(String(service.environment?.REDIS_URL));
      expect(url.protocol, name).toBe('redis:');
      expect(compose.services[url.hostname], name).toBeDefined();
      expect(url.port).toBe('6379');
    }
  });

  it('exposes the ports the daemons listen on, and publishes only HAProxy', () => {
    for (const [name, service] of daemons) {
      const config = configFromEnv(envOf(service));
      expect(service.expose?.map(String).sort(), name).toEqual([
        String(config.wsPort),
        String(config.healthPort),
      ]);
      expect(service.ports, name).toBeUndefined();
    }
    expect(compose.services.haproxy?.ports).toContain(`${DEFAULTS.wsPort}:${DEFAULTS.wsPort}`);
    expect(compose.services.haproxy?.volumes).toContain(
      './apps/ws-server/deploy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro',
    );
  });
});

describe('Dockerfile', () => {
  it('builds in one stage and runs in another', () => {
    expect(args('FROM').length).toBeGreaterThanOrEqual(2);
  });

  it('installs the pnpm of package.json and .ci/run, then installs and builds as CI does', () => {
    const packageManager = (JSON.parse(read('package.json')) as { packageManager: string }).packageManager;
    const version = packageManager.replace(/^pnpm@/, '');
    expect(ciRun).toContain(`PNPM_VERSION=${version}`);
    const runs = args('RUN');
    expect(runs).toContain(`npm install -g pnpm@${version}`);
    expect(ciRun).toMatch(/^pnpm install --frozen-lockfile$/m);
    expect(runs).toContain('pnpm install --frozen-lockfile');
    expect(runs).toContain('pnpm build');
    expect(
      (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts.build,
    ).toBeDefined();
  });

  it('exposes the default WebSocket and health ports', () => {
    expect(args('EXPOSE').flatMap((a) => a.split(/\s+/))).toEqual([
      String(DEFAULTS.wsPort),
      String(DEFAULTS.healthPort),
    ]);
  });

  it('runs the built daemon as a non-root user', () => {
    expect(args('USER').at(-1)).toMatch(/^(?!root$|0$)\S+$/);
    expect(args('CMD').at(-1)).toBe('["node", "apps/ws-server/dist/main.js"]');
    expect(read('apps/ws-server/tsconfig.build.json')).toContain('"outDir": "dist"');
    expect(read('apps/ws-server/src/main.ts')).toContain('await main();');
  });

  it('probes, on the default health port, a path the health server answers 200', async () => {
    const healthcheck = args('HEALTHCHECK').at(-1) ?? '';
    expect(healthcheck).toContain(`process.env.HEALTH_PORT || ${DEFAULTS.healthPort}`);
    const path = /'(\/[a-z]+)'/.exec(healthcheck)?.[1];
    expect(path).toBe('/health');
    expect((await fetch(`${healthBase}${path}`)).status).toBe(200);
  });

  it('sets no environment variable the daemon does not read', () => {
    const names = args('ENV').map((a) => a.split(/[=\s]/)[0]!);
    expect(names.filter((n) => !ENV_VARS.includes(n))).toEqual([]);
  });
});

describe('apps/ws-server/deploy/haproxy.cfg', () => {
  it('forwards to each compose daemon on its WebSocket port', () => {
    const servers = [...haproxy.matchAll(/^\s*server (\S+) (\S+):(\d+)/gm)].map((m) => [m[1], m[2], m[3]]);
    expect(servers).toEqual(daemons.map(([name]) => [name, name, String(DEFAULTS.wsPort)]));
    expect(haproxy).toMatch(new RegExp(`^\\s*bind :${DEFAULTS.wsPort}$`, 'm'));
  });

  it('health-checks /ready on the health port, a path the health server answers', async () => {
    const uri = /http-check send meth GET uri (\S+)/.exec(haproxy)?.[1];
    expect(uri).toBe('/ready');
    expect(haproxy).toMatch(new RegExp(`default-server check port ${DEFAULTS.healthPort}\\b`));
    expect((await fetch(`${healthBase}${uri}`)).status).toBe(200);
  });

  it('keeps upgraded sockets open well past the ping interval', () => {
    const tunnel = /timeout tunnel (\d+)(ms|s|m|h)/.exec(haproxy);
    expect(tunnel).not.toBeNull();
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[tunnel![2] as 'ms' | 's' | 'm' | 'h'];
    expect(Number(tunnel![1]) * unit).toBeGreaterThan(2 * DEFAULTS.pingIntervalMs);
    expect(haproxy).toContain('option forwardfor');
  });
});

describe('docs/operations.md', () => {
  it.each([...ENV_VARS])('documents %s in the configuration table', (name) => {
    expect(operations).toMatch(new RegExp(`^\\| \`${name}\` +\\|`, 'm'));
  });

  it('documents every exo_* metric the server exports', async () => {
    const metrics = createServerMetrics({
      stats: () => {
        throw new Error('not scraped: only the names are read');
      },
      processMetrics: false,
      cluster: true,
    });
    const names = metrics.registry.getMetricsAsArray().map((m) => m.name);
    expect(names.length).toBeGreaterThan(10);
    for (const name of names) expect(operations, name).toMatch(new RegExp(`\`${name}(\\{[^}]*\\})?\``));
  });
});
