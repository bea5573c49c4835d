// Integration-test kit: a server from createExoServer on 127.0.0.1 port 0, and a WebSocket
// client whose inbox can be awaited message by message. Tests wait for messages, never sleep;
// every wait has a deadline so a missing message fails the test instead of hanging it.

import type { ServerMessage } from '@exo/protocol';
import { afterEach, inject } from 'vitest';
import WebSocket from 'ws';
import { InMemoryRoomStore } from '../src/cluster/memory-store.js';
import { RedisRoomStore } from '../src/cluster/redis-store.js';
import { createExoServer, type ExoServer, type ExoServerOptions } from '../src/server.js';

const WAIT_MS = 3000;

export async function startServer(options: ExoServerOptions = {}): Promise<ExoServer & { url: string }> {
  const cluster = options.cluster ?? (await clusterFromEnv());
  const server = await createExoServer({
    host: '127.0.0.1',
    port: 0,
    ...options,
    ...(cluster === undefined ? {} : { cluster }),
  });
  if (cluster !== undefined && options.cluster === undefined) {
    // The store was made for this server alone: it goes when the server goes.
    const close = server.close.bind(server);
    Object.assign(server, { close: () => close().then(() => cluster.store.close()) });
  }
  return Object.assign(server, { url: `ws://127.0.0.1:${server.port}/` });
}

/**
 * EXO_TEST_STORE=memory|redis runs every single-server test in cluster mode, on a store of its
 * own (redis: a fresh key prefix on the run's Redis): the same tests, the same expectations.
 */
async function clusterFromEnv(): Promise<ExoServerOptions['cluster']> {
  const kind = process.env.EXO_TEST_STORE;
  if (kind === undefined || kind === '') return undefined;
  if (kind === 'memory') return { store: new InMemoryRoomStore() };
  if (kind === 'redis') {
    const url = inject('exoTestRedisUrl') ?? process.env.EXO_TEST_REDIS_URL;
    if (url === undefined) throw new Error('EXO_TEST_STORE=redis needs a Redis (test/redis-global-setup.ts)');
    const keyPrefix = `t${process.pid}-${++storeCount}:`;
    return { store: await RedisRoomStore.connect(url, { keyPrefix }) };
  }
  throw new Error(`EXO_TEST_STORE must be memory or redis, got ${kind}`);
}

let storeCount = 0;

/**
 * A `server(options)` function for one test file: every server it starts is closed after each test,
 * so a failing test cannot leak a listening socket into the next.
 */
export function serverPerTest(): (options?: ExoServerOptions) => Promise<ExoServer & { url: string }> {
  const servers: ExoServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  return async (options = {}) => {
    const s = await startServer(options);
    servers.push(s);
    return s;
  };
}

export interface TestClient {
  readonly ws: WebSocket;
  readonly inbox: ServerMessage[];
  send(message: object | string): void;
  /** The next message not yet taken, optionally of a given type (skipping nothing: a different type fails). */
  next<T extends ServerMessage['type']>(type?: T): Promise<Extract<ServerMessage, { type: T }>>;
  /** Takes messages until one of `type` arrives and returns all taken. */
  until(type: ServerMessage['type']): Promise<ServerMessage[]>;
  /** Resolves with the close code and reason once the socket is closed. */
  closed(): Promise<{ code: number; reason: string }>;
  /** Asserts nothing more arrives within `ms` (a quiet period, for negative checks). */
  quiet(ms?: number): Promise<void>;
  close(code?: number): void;
}

export function connect(
  url: string,
  protocols?: string[],
  headers?: Record<string, string>,
): Promise<TestClient> {
  const ws = new WebSocket(url, protocols, headers === undefined ? {} : { headers });
  const inbox: ServerMessage[] = [];
  const waiters: (() => void)[] = [];
  let closeInfo: { code: number; reason: string } | null = null;
  ws.on('message', (data) => {
    inbox.push(JSON.parse(data.toString()) as ServerMessage);
    for (const w of waiters.splice(0)) w();
  });
  ws.on('close', (code, reason) => {
    closeInfo = { code, reason: reason.toString() };
    for (const w of waiters.splice(0)) w();
  });
  const waitFor = async <T>(take: () => T | undefined, what: string): Promise<T> => {
    const deadline = Date.now() + WAIT_MS;
    for (;;) {
      const value = take();
      if (value !== undefined) return value;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; inbox: ${JSON.stringify(inbox)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  };
  const client: TestClient = {
    ws,
    inbox,
    send(message) {
      ws.send(typeof message === 'string' ? message : JSON.stringify(message));
    },
    async next(type) {
      const message = await waitFor(() => inbox.shift(), type ?? 'a message');
      if (type !== undefined && message.type !== type) {
        throw new Error(`expected ${type}, got ${JSON.stringify(message)}`);
      }
      return message as never;
    },
    async until(type) {
      const taken: ServerMessage[] = [];
      for (;;) {
        const message = await client.next();
        taken.push(message);
        if (message.type === type) return taken;
      }
    },
    closed() {
      return waitFor(() => closeInfo ?? undefined, 'close');
    },
    async quiet(ms = 150) {
      await new Promise((resolve) => setTimeout(resolve, ms));
      if (inbox.length > 0) throw new Error(`expected no message, got ${JSON.stringify(inbox)}`);
    },
    close(code) {
      ws.close(code);
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

/** Connects and joins `roomId` as `userId`; returns the client after its join ack, inbox emptied. */
export async function joined(
  url: string,
  userId: string,
  roomId = 'room',
  extra: object = {},
): Promise<TestClient> {
  const client = await connect(url);
  client.send({ type: 'join', roomId, user: { userId }, ...extra });
  await client.until('ack');
  return client;
}

/**
 * Connects and joins the users in order to one room (`extra` adds fields to each join), draining
 * the presence each earlier joiner got of the later ones; returns the clients after their acks.
 */
export async function room(
  url: string,
  users: readonly string[],
  extra: (userId: string) => object = () => ({}),
): Promise<TestClient[]> {
  const clients: TestClient[] = [];
  for (const userId of users) {
    const c = await joined(url, userId, 'room', extra(userId));
    for (const earlier of clients) await earlier.next('presence');
    clients.push(c);
  }
  return clients;
}

/** Polls until `check` passes: some outcomes (a socket gone, a counter dropping) send no message. */
export async function eventually(check: () => void, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}
