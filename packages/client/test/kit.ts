// Integration kit for the client: a real daemon (createExoServer) attached to an http.Server of our
// own on 127.0.0.1 port 0. Owning the http server lets a test reach the server side of a connection's
// TCP socket — destroy it (a network drop) or pause it (a half-open connection: the server stops
// reading, the client hears nothing back) — and restart the daemon on the same port (closing every
// socket with 1001, as a deploy does). Clients connect on a path naming them, so a test can find
// their server-side socket. Waits are on events, each with a deadline so a miss fails, not hangs.

import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createExoServer, type ExoServer, type ExoServerOptions } from '@exo/ws-server';
import WebSocket from 'ws';
import {
  ExoClient,
  type ExoClientEvents,
  type ExoClientOptions,
  type WebSocketConstructor,
  type WebSocketLike,
} from '../src/index.js';

const WAIT_MS = 4000;

export interface Daemon {
  readonly url: string;
  readonly exo: ExoServer;
  /** The live server-side sockets of upgrades on `path`. */
  socketsOf(path: string): Duplex[];
  /** Stops the daemon (1001 to every socket) and starts a fresh one on the same port. */
  restart(options?: ExoServerOptions): Promise<void>;
  close(): Promise<void>;
}

const daemons: Daemon[] = [];
const clients: ExoClient[] = [];

export async function startDaemon(options: ExoServerOptions = {}): Promise<Daemon> {
  const http = createServer();
  const sockets = new Map<Duplex, string>();
  http.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    sockets.set(socket, (req.url ?? '/').split('?')[0]!);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  let exo = await createExoServer({ ...options, server: http });
  const daemon: Daemon = {
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}`,
    get exo() {
      return exo;
    },
    socketsOf: (path) => [...sockets].filter(([, p]) => p === path).map(([s]) => s),
    async restart(next = options) {
      await exo.close();
      exo = await createExoServer({ ...next, server: http });
    },
    async close() {
      for (const socket of sockets.keys()) socket.resume();
      await exo.close();
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
  daemons.push(daemon);
  return daemon;
}

/** A `ws` WebSocket that records every frame it sends and counts how many were constructed. */
export class Wire {
  readonly sent: Record<string, unknown>[] = [];
  opened = 0;

  framesOf(type: string): Record<string, unknown>[] {
    return this.sent.filter((frame) => frame.type === type);
  }

  readonly WebSocket: WebSocketConstructor = ((wire: Wire) =>
    class RecordingWebSocket implements WebSocketLike {
      private readonly inner: WebSocket;
      constructor(url: string, protocols?: string | string[]) {
        wire.opened++;
        this.inner = new WebSocket(url, protocols);
      }
      get readyState() {
        return this.inner.readyState;
      }
      get bufferedAmount() {
        return this.inner.bufferedAmount;
      }
      set onopen(h: WebSocketLike['onopen']) {
        this.inner.onopen = h;
      }
      get onopen() {
        return this.inner.onopen;
      }
      set onmessage(h: WebSocketLike['onmessage']) {
        this.inner.onmessage = h;
      }
      get onmessage() {
        return this.inner.onmessage;
      }
      set onclose(h: WebSocketLike['onclose']) {
        this.inner.onclose = h;
      }
      get onclose() {
        return this.inner.onclose;
      }
      set onerror(h: WebSocketLike['onerror']) {
        this.inner.onerror = h;
      }
      get onerror() {
        return this.inner.onerror;
      }
      send(data: string) {
        wire.sent.push(JSON.parse(data) as Record<string, unknown>);
        this.inner.send(data);
      }
      close(code?: number, reason?: string) {
        this.inner.close(code, reason);
      }
    })(this);
}

/** A client of `daemon` on the path `/<name>`, closed after the test. */
export function client(daemon: Daemon, name: string, options: Partial<ExoClientOptions> = {}): ExoClient {
  const c = new ExoClient({ url: `${daemon.url}/${name}`, WebSocket, ...options });
  clients.push(c);
  return c;
}

/** A client connected and joined to `roomId` as `userId`. */
export async function joinedClient(
  daemon: Daemon,
  userId: string,
  roomId = 'room',
  options: Partial<ExoClientOptions> = {},
): Promise<ExoClient> {
  const c = client(daemon, userId, options);
  await c.connect();
  await c.join(roomId, { userId });
  return c;
}

/** Resolves with the first `type` event that satisfies `test`; subscribe before acting. */
export function nextEvent<K extends keyof ExoClientEvents>(
  c: ExoClient,
  type: K,
  test: (payload: ExoClientEvents[K]) => boolean = () => true,
): Promise<ExoClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const seen: unknown[] = [];
    const timer = setTimeout(() => {
      off();
      reject(
        new Error(`no matching '${String(type)}' event within ${WAIT_MS} ms; saw ${JSON.stringify(seen)}`),
      );
    }, WAIT_MS);
    const off = c.on(type, (payload) => {
      seen.push(payload instanceof Map ? [...payload] : payload);
      if (!test(payload)) return;
      clearTimeout(timer);
      off();
      resolve(payload);
    });
  });
}

/** Resolves once `check` holds, re-checked on every event of `c` (for state with no event of its own). */
export function until(c: ExoClient, check: () => boolean, what: string): Promise<void> {
  if (check()) return Promise.resolve();
  return nextEvent(c, 'change', check).then(
    () => undefined,
    () => Promise.reject(new Error(`timed out waiting for ${what}`)),
  );
}

/** Resolves once the daemon holds exactly `n` connections (the hub has no event for it). */
export async function connectionsSettle(daemon: Daemon, n: number): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (daemon.exo.connections !== n) {
    if (Date.now() > deadline) throw new Error(`expected ${n} connections, have ${daemon.exo.connections}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export async function cleanUp(): Promise<void> {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(daemons.splice(0).map((d) => d.close()));
}
