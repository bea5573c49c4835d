// The socket side of the adapter: one Session per WebSocket. Frames are decoded by @exo/protocol
// and applied to the engine; the effects come back as sends (each message serialized once for
// all its recipients) and closes. One timer stays armed at the engine's next deadline. Liveness:
// a ping every pingIntervalMs, and a socket that has not answered the previous ping is
// terminated (a network close). Slow readers (CONTRACT §8): past the soft limit of buffered bytes
// camera relays are held back, the latest per (user, planet), and sent once the buffer drains;
// past the hard limit the connection is closed with 1013 and its user leaves.

import type { IncomingMessage } from 'node:http';
import {
  type ParseResult,
  parseClientMessage,
  type ServerMessage,
  serializeServerMessage,
  type ViewerCamerasMessage,
} from '@exo/protocol';
import type { Clock, CloseKind, ConnAuth, Effect, RoomEngine } from '@exo/room-core';
import type WebSocket from 'ws';
import type { Logger } from './log.js';
import { type HubObserver, noopObserver } from './observer.js';
import { Outbox } from './outbox.js';

/** What the hub drives: a RoomEngine, or cluster mode's engine (which answers through `run`). */
export type HubEngine = Pick<RoomEngine, 'open' | 'frame' | 'close' | 'tick' | 'nextDeadline'>;

export interface HubOptions {
  readonly pingIntervalMs: number;
  readonly sendSoftLimitBytes: number;
  readonly sendHardLimitBytes: number;
  /** Told what the hub does, for metrics; nothing by default. */
  readonly observer?: HubObserver;
}

export interface SendBacklog {
  readonly buffered: number;
  readonly held: number;
}

interface Session {
  readonly id: string;
  readonly ws: WebSocket;
  readonly address: string;
  alive: boolean;
  pingFailed: boolean;
  /** Camera relays held back while the socket is over the soft limit, latest per (user, planet). */
  readonly held: Map<string, string>;
  drainTimer: NodeJS.Timeout | null;
  closing: boolean;
  /** Frames refused with RATE_LIMITED, logged when the connection ends. */
  rateLimited: number;
  /** The close code the server chose, if it closed the connection. */
  closedWith: number | null;
}

const BINARY_FRAME: ParseResult = {
  ok: false,
  error: { code: 'BAD_MESSAGE', message: 'binary frames are not accepted: send JSON text frames', path: '' },
};
const MAX_TIMER_MS = 2 ** 31 - 1;
const DRAIN_CHECK_MS = 20;
const CLOSE_GRACE_MS = 2000;

export class SocketHub {
  private readonly sessions = new Map<string, Session>();
  private nextId = 0;
  private timer: NodeJS.Timeout | null = null;
  private armedAt: number | null = null;
  private readonly pinger: NodeJS.Timeout;
  private readonly observer: HubObserver;
  /** Connections closed for reading too slowly whose users leave once the current step is sent. */
  private readonly tooSlow: string[] = [];
  /** Frames each message once for all its recipients and batches writes per event-loop turn. */
  private readonly outbox = new Outbox();

  constructor(
    readonly engine: HubEngine,
    private readonly clock: Clock,
    private readonly options: HubOptions,
    private readonly log: Logger,
    private readonly idPrefix = 'c',
  ) {
    this.observer = options.observer ?? noopObserver;
    this.pinger = setInterval(() => this.pingAll(), options.pingIntervalMs);
    this.pinger.unref();
  }

  get size(): number {
    return this.sessions.size;
  }

  /** Per open connection: bytes buffered for its socket and camera relays held back. Read-only. */
  backlog(): Map<string, SendBacklog> {
    const out = new Map<string, SendBacklog>();
    for (const [id, s] of this.sessions) out.set(id, { buffered: s.ws.bufferedAmount, held: s.held.size });
    return out;
  }

  accept(
    ws: WebSocket,
    req: IncomingMessage,
    address: string,
    auth: ConnAuth | undefined,
    onGone: () => void,
  ): void {
    const session: Session = {
      id: `${this.idPrefix}${++this.nextId}`,
      ws,
      address,
      alive: true,
      pingFailed: false,
      held: new Map(),
      drainTimer: null,
      closing: false,
      rateLimited: 0,
      closedWith: null,
    };
    this.sessions.set(session.id, session);
    this.log.debug({ conn: session.id, address, path: req.url?.split('?')[0] }, 'connection open');
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const input = isBinary ? BINARY_FRAME : parseClientMessage(data.toString('utf8'));
      this.observer.frameIn(input);
      this.run(this.engine.frame(session.id, input));
      this.observer.frameDone();
    });
    ws.on('pong', () => {
      session.alive = true;
    });
    ws.on('error', (err) => {
      this.log.debug({ conn: session.id, err: err.message }, 'socket error');
    });
    ws.on('close', (code: number) => {
      this.sessions.delete(session.id);
      if (session.drainTimer !== null) clearTimeout(session.drainTimer);
      onGone();
      const abuse = session.rateLimited > 0 || session.closedWith === 1008;
      const fields = { conn: session.id, address: session.address, code, rateLimited: session.rateLimited };
      if (abuse) this.log.warn(fields, 'connection closed after exceeding its rate budget');
      else this.log.debug(fields, 'connection closed');
      this.run(this.engine.close(session.id, closeKind(code, session.pingFailed)));
    });
    this.run(this.engine.open(session.id, auth));
  }

  /** Closes every socket with `code` and resolves when all are gone (terminating stragglers). */
  async closeAll(code: number, reason: string, timeoutMs: number): Promise<void> {
    clearInterval(this.pinger);
    const closed = [...this.sessions.values()].map(
      (s) =>
        new Promise<void>((resolve) =>
          s.ws.readyState === s.ws.CLOSED ? resolve() : s.ws.once('close', () => resolve()),
        ),
    );
    for (const s of this.sessions.values()) s.ws.close(code, reason);
    const timeout = setTimeout(() => {
      for (const s of this.sessions.values()) s.ws.terminate();
    }, timeoutMs);
    await Promise.all(closed);
    clearTimeout(timeout);
    this.disarm();
  }

  /** Carries out the engine's effects, then re-arms the deadline timer. */
  run(effects: Effect[]): void {
    for (const effect of effects) {
      if (effect.type === 'send') this.send(effect.to, effect.message);
      else this.close(effect.conn, effect.code, effect.reason);
    }
    // A slow reader's leave is a later step: its messages must follow the rest of this one's,
    // so every recipient sees the room's state messages in step order (CONTRACT §3).
    for (let id = this.tooSlow.shift(); id !== undefined; id = this.tooSlow.shift()) {
      this.run(this.engine.close(id, 'other'));
    }
    this.arm();
  }

  private send(to: readonly string[], message: ServerMessage): void {
    const data = serializeServerMessage(message);
    const framed = this.outbox.frame(data);
    let written = 0;
    for (const id of to) {
      const session = this.sessions.get(id);
      if (session === undefined || session.closing || session.ws.readyState !== session.ws.OPEN) continue;
      if (message.type === 'error' && message.code === 'RATE_LIMITED') session.rateLimited++;
      if (message.type === 'viewer_cameras' && session.held.size > 0) dropDeparted(session.held, message);
      const buffered = this.outbox.buffered(session.ws);
      if (buffered > this.options.sendHardLimitBytes) {
        this.log.warn({ conn: id, buffered }, 'closing a connection that reads too slowly');
        this.close(id, 1013, 'reading too slowly');
        this.tooSlow.push(id);
        this.observer.slowReaderClosed();
      } else if (message.type === 'camera' && buffered > this.options.sendSoftLimitBytes) {
        session.held.delete(`${message.userId}\u0000${message.planetId}`);
        session.held.set(`${message.userId}\u0000${message.planetId}`, data);
        this.watchDrain(session);
        this.observer.relayHeld();
      } else {
        this.outbox.write(session.ws, framed);
        written++;
      }
    }
    this.observer.messageOut(message, to.length, written);
  }

  private watchDrain(session: Session): void {
    if (session.drainTimer !== null) return;
    session.drainTimer = setTimeout(() => {
      session.drainTimer = null;
      if (session.closing || session.ws.readyState !== session.ws.OPEN) return;
      if (session.ws.bufferedAmount > this.options.sendSoftLimitBytes) return this.watchDrain(session);
      for (const data of session.held.values()) session.ws.send(data);
      this.observer.relaysFlushed(session.held.size);
      session.held.clear();
    }, DRAIN_CHECK_MS);
  }

  private close(id: string, code: number, reason: string): void {
    const session = this.sessions.get(id);
    if (session === undefined || session.closing) return;
    session.closing = true;
    session.closedWith = code;
    session.ws.close(code, reason);
    // A peer that never answers the close handshake (or whose buffer never drains) is cut off.
    setTimeout(() => session.ws.terminate(), CLOSE_GRACE_MS).unref();
  }

  private arm(): void {
    const next = this.engine.nextDeadline();
    if (next === this.armedAt) return;
    this.disarm();
    if (next === null) return;
    this.armedAt = next;
    const delay = Math.min(Math.max(0, next - this.clock.now()), MAX_TIMER_MS);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.armedAt = null;
      this.run(this.engine.tick());
    }, delay);
  }

  private disarm(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.armedAt = null;
  }

  private pingAll(): void {
    for (const session of this.sessions.values()) {
      if (!session.alive) {
        session.pingFailed = true;
        session.ws.terminate();
        continue;
      }
      session.alive = false;
      session.ws.ping();
    }
  }
}

/**
 * A snapshot tells a slow reader who still views the planet: a held relay from anyone else is
 * stale and must not arrive after it, re-showing a viewer that left.
 */
function dropDeparted(held: Map<string, string>, snapshot: ViewerCamerasMessage): void {
  for (const key of held.keys()) {
    const [userId, planetId] = key.split('\u0000') as [string, string];
    if (planetId === snapshot.planetId && !Object.hasOwn(snapshot.cameras, userId)) held.delete(key);
  }
}

/** A close without a close frame (1006) or a failed ping is the network; 1001 is going away. */
function closeKind(code: number, pingFailed: boolean): CloseKind {
  if (pingFailed || code === 1006) return 'network';
  if (code === 1001) return 'going_away';
  return 'other';
}
