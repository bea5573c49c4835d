// Test kit for the health port's extra routes: a server from createExoServer with metrics wired in
// as main.ts wires them, and its health server on 127.0.0.1 port 0. Both are closed after each test.

import type { AddressInfo } from 'node:net';
import { afterEach } from 'vitest';
import { createHealthServer } from '../src/http.js';
import { createServerMetrics, type ServerMetrics } from '../src/metrics.js';
import { opsRoutes } from '../src/ops-routes.js';
import type { ExoServer, ExoServerOptions } from '../src/server.js';
import { startServer } from './kit.js';

export interface OpsFixture {
  readonly exo: ExoServer & { url: string };
  readonly metrics: ServerMetrics;
  /** http://127.0.0.1:<health port> */
  readonly base: string;
}

export interface OpsOptions {
  readonly server?: ExoServerOptions;
  readonly adminToken?: string | null;
  readonly now?: () => number;
}

export function opsPerTest(): (options?: OpsOptions) => Promise<OpsFixture> {
  const closers: (() => Promise<void>)[] = [];
  afterEach(async () => {
    await Promise.all(closers.splice(0).map((close) => close()));
  });
  return async (options = {}) => {
    let exo: ExoServer | null = null;
    const metrics = createServerMetrics({ stats: () => exo!.engine.stats() });
    const started = await startServer({ ...options.server, observer: metrics.observer });
    exo = started;
    closers.push(() => started.close());
    const health = createHealthServer({
      ready: () => ({ ok: true }),
      routes: opsRoutes({
        metrics,
        adminToken: options.adminToken ?? null,
        inspect: () => started.engine.inspect(),
        ...(options.now === undefined ? {} : { now: options.now }),
      }),
    });
    await new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve));
    closers.push(
      () =>
        new Promise<void>((resolve) => {
          health.closeAllConnections();
          health.close(() => resolve());
        }),
    );
    return { exo: started, metrics, base: `http://127.0.0.1:${(health.address() as AddressInfo).port}` };
  };
}

/** The value of one sample line of a Prometheus text exposition, or undefined when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',');
  const prefix = wanted === '' ? `${name} ` : `${name}{${wanted}} `;
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}
