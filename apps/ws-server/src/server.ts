// The embedding API: createExoServer(options) runs the room engine behind WebSockets, either on
// its own port or attached to an existing http.Server (upgrades on one path, or any). Upgrade
// checks run in the contract's order (origin 403, connection cap 503, per-IP cap 429, auth 401);
// the `exo.v1` subprotocol is selected when offered and `exo.auth.*` entries are never echoed.
// close() stops accepting, closes every socket with 1001 and resolves when all are gone.

import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  type Clock,
  type ConnAuth,
  type CoreConfig,
  type CoreSnapshot,
  type CoreStats,
  RoomEngine,
  resolveConfig,
  type TokenSource,
} from '@exo/room-core';
import { WebSocketServer } from 'ws';
import { ClusterEngine, type ClusterObserver } from './cluster/engine.js';
import type { RoomStore } from './cluster/store.js';
import { type SendBacklog, SocketHub } from './hub.js';
import { type Logger, silentLogger } from './log.js';
import type { HubObserver } from './observer.js';
import { AddressCounter, addressKey, checkOrigin, clientAddress, type Refusal } from './upgrade.js';

export interface Authenticated {
  readonly userId: string;
  /** When the credential expires (ms since epoch): the connection is closed with 4401 then. */
  readonly expiresAt?: number;
}

export interface ExoServerOptions {
  readonly core?: Partial<CoreConfig>;
  /** Attach to this server's upgrades instead of listening on a port of our own. */
  readonly server?: Server;
  /** With `server`: only upgrades on this path (query string ignored); default any path. */
  readonly path?: string;
  readonly port?: number;
  readonly host?: string;
  readonly maxMessageBytes?: number;
  readonly compression?: boolean;
  readonly pingIntervalMs?: number;
  readonly sendSoftLimitBytes?: number;
  readonly sendHardLimitBytes?: number;
  readonly allowedOrigins?: readonly string[] | null;
  readonly maxConnections?: number;
  readonly maxConnectionsPerIp?: number;
  readonly trustProxy?: number;
  /** Resolves the request's user, or null to refuse the upgrade with 401. */
  readonly authenticate?: (request: IncomingMessage) => Promise<Authenticated | null>;
  readonly logger?: Logger;
  /** Told what the socket hub does, for metrics (see metrics.ts). */
  readonly observer?: HubObserver;
  readonly clock?: Clock;
  readonly tokens?: TokenSource;
  /** Cluster mode: rooms live in this store, shared with every process that uses it. */
  readonly cluster?: ClusterOptions;
}

export interface ClusterOptions {
  readonly store: RoomStore;
  /** Unique among the processes sharing the store; no ':'. Default: a random id. */
  readonly procId?: string;
  readonly observer?: ClusterObserver;
}

/** What an embedder (metrics, inspection) reads of the engine, in either mode. */
export interface EngineView {
  inspect(): CoreSnapshot;
  stats(): CoreStats;
}

export interface ExoServer {
  /** One process: the whole state. Cluster mode: the rooms this process holds members of. */
  readonly engine: EngineView;
  /** False in cluster mode while the store is unreachable (`/ready` answers 503). */
  readonly storeReachable: boolean;
  /** This process's id in the cluster, null in one-process mode. */
  readonly procId: string | null;
  /** The port WebSocket clients connect to. */
  readonly port: number;
  readonly draining: boolean;
  readonly connections: number;
  /** Per open connection: bytes buffered for its socket and camera relays held back (slow readers). */
  sendBacklog(): Map<string, SendBacklog>;
  close(): Promise<void>;
}

const systemClock: Clock = { now: () => Date.now() };
const randomTokens: TokenSource = { next: () => randomBytes(24).toString('base64url') };
const SUBPROTOCOL = 'exo.v1';
const HEADERS_TIMEOUT_MS = 10_000;

export async function createExoServer(options: ExoServerOptions = {}): Promise<ExoServer> {
  const log = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const tokens = options.tokens ?? randomTokens;
  let engine: RoomEngine | ClusterEngine;
  let cluster: ClusterEngine | null = null;
  if (options.cluster !== undefined) {
    cluster = new ClusterEngine({
      store: options.cluster.store,
      procId: options.cluster.procId ?? randomBytes(6).toString('hex'),
      config: resolveConfig(options.core),
      clock,
      tokens,
      log,
      ...(options.cluster.observer === undefined ? {} : { observer: options.cluster.observer }),
    });
    engine = cluster;
  } else {
    engine = new RoomEngine({ config: options.core ?? {}, clock, tokens });
  }
  const hub = new SocketHub(
    engine,
    clock,
    {
      pingIntervalMs: options.pingIntervalMs ?? 30_000,
      sendSoftLimitBytes: options.sendSoftLimitBytes ?? 1024 * 1024,
      sendHardLimitBytes: options.sendHardLimitBytes ?? 8 * 1024 * 1024,
      ...(options.observer === undefined ? {} : { observer: options.observer }),
    },
    log,
    cluster === null ? 'c' : `${cluster.procId}:`,
  );
  if (cluster !== null) {
    const clustered = cluster;
    clustered.attach((effects) => hub.run(effects));
    await clustered.start();
  }
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxMessageBytes ?? 16384,
    perMessageDeflate: options.compression ?? false,
    clientTracking: false,
    handleProtocols: (offered) => (offered.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  const perIp = new AddressCounter();
  const maxConnections = options.maxConnections ?? 20_000;
  const maxPerIp = options.maxConnectionsPerIp ?? 50;
  let pending = 0;
  let draining = false;

  const refuse = (socket: Duplex, refusal: Refusal) => {
    const text = `${refusal.reason}\n`;
    socket.end(
      `HTTP/1.1 ${refusal.status} ${STATUS_TEXT[refusal.status]}\r\nConnection: close\r\n` +
        `Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
    );
  };

  const onUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    if (draining) return refuse(socket, { status: 503, reason: 'server shutting down' });
    const originRefusal = checkOrigin(req, options.allowedOrigins ?? null);
    if (originRefusal !== null) return refuse(socket, originRefusal);
    if (hub.size + pending >= maxConnections)
      return refuse(socket, { status: 503, reason: 'too many connections' });
    const address = clientAddress(req, options.trustProxy ?? 0);
    const key = addressKey(address);
    if (perIp.count(key) >= maxPerIp)
      return refuse(socket, { status: 429, reason: 'too many connections from this address' });
    perIp.add(key);
    pending++;
    let auth: ConnAuth | undefined;
    try {
      if (options.authenticate !== undefined) {
        const who = await options.authenticate(req);
        if (who === null) throw new Unauthorized();
        auth =
          who.expiresAt === undefined
            ? { userId: who.userId }
            : { userId: who.userId, expiresAt: who.expiresAt };
      }
    } catch (err) {
      pending--;
      perIp.remove(key);
      if (!(err instanceof Unauthorized)) log.warn({ err: String(err) }, 'authenticate hook failed');
      return refuse(socket, { status: 401, reason: 'unauthorized' });
    }
    pending--;
    if (draining || socket.destroyed) {
      perIp.remove(key);
      return refuse(socket, { status: 503, reason: 'server shutting down' });
    }
    // The request comes back as the callback's argument: capturing `req` here would keep it (and
    // its headers) alive as long as the socket, through the closures that share this scope.
    wss.handleUpgrade(req, socket, head, (ws, request) =>
      hub.accept(ws, request, address, auth, () => perIp.remove(key)),
    );
  };

  const upgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (options.server !== undefined && options.path !== undefined && pathOf(req) !== options.path) return;
    onUpgrade(req, socket, head).catch((err) => {
      log.error({ err: String(err) }, 'upgrade failed');
      socket.destroy();
    });
  };

  const own = options.server === undefined;
  const http =
    options.server ??
    createServer((_req, res) => {
      res.writeHead(426, { 'Content-Type': 'text/plain', Upgrade: 'websocket' }).end('WebSocket only\n');
    });
  http.on('upgrade', upgradeListener);
  if (own) {
    // A client that opens TCP and trickles its upgrade headers holds a socket the connection caps
    // cannot see yet; give it 10 s (Node's default is 60 s).
    http.headersTimeout = HEADERS_TIMEOUT_MS;
    http.requestTimeout = HEADERS_TIMEOUT_MS;
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject);
      http.listen(options.port ?? 8080, options.host ?? '0.0.0.0', () => {
        http.off('error', reject);
        resolve();
      });
    });
  }

  let closing: Promise<void> | null = null;
  return {
    engine,
    get storeReachable() {
      return cluster === null || cluster.ready;
    },
    procId: cluster?.procId ?? null,
    get port() {
      return (http.address() as AddressInfo | null)?.port ?? 0;
    },
    get draining() {
      return draining;
    },
    get connections() {
      return hub.size;
    },
    sendBacklog: () => hub.backlog(),
    close() {
      closing ??= (async () => {
        draining = true;
        cluster?.drain();
        await hub.closeAll(1001, 'server shutting down', 5000);
        await cluster?.stop();
        http.off('upgrade', upgradeListener);
        wss.close();
        if (own) {
          http.closeAllConnections();
          await new Promise<void>((resolve) => http.close(() => resolve()));
        }
      })();
      return closing;
    },
  };
}

class Unauthorized extends Error {}

const STATUS_TEXT: Record<Refusal['status'], string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0]!;
}
