// ExoClient: one user's connection to an Exo realtime server. Rules:
// - `connect()` opens the socket; `join`, `leave`, `select`, `unselect`, `joinViewer`, `leaveViewer`
//   return promises settled by the server's answer to their rid (see requests.ts); `sendCamera` is
//   fire-and-forget and coalesced (camera-coalescer.ts);
// - state: connecting → open; on a close that allows it (close-policy.ts) → reconnecting, with
//   back-off (backoff.ts), then a restore of the session (restore.ts) → open; a terminal close or
//   `close()` → closed, and every pending command rejects;
// - a 4002 (joined to nothing in time) with nothing to send leaves the client closed but not
//   terminal: the next command reconnects;
// - what the server's messages do is inbound.ts's job; what the client holds and wants across
//   reconnects is intent.ts's.

import { type AckMessage, type CameraState, CameraStateSchema, type UserProfile } from '@exo/protocol';
import * as v from 'valibot';
import { type BackoffOptions, DEFAULT_BACKOFF, reconnectDelay } from './backoff.js';
import { CameraCoalescer, type TransmitResult } from './camera-coalescer.js';
import { closeAction, refusalAction, refusedStatus } from './close-policy.js';
import { Emitter } from './emitter.js';
import { ExoError } from './errors.js';
import type {
  ConnectionState,
  ConnectionStateChange,
  ExoClientEvents,
  JoinResult,
  SelectResult,
} from './events.js';
import { Heartbeat } from './heartbeat.js';
import { Inbound } from './inbound.js';
import { Intent } from './intent.js';
import { RoomMirror, type RoomView } from './mirror.js';
import { type Answer, type Command, RequestQueue } from './requests.js';
import { restoreSession, type Session } from './restore.js';
import { type Scheduler, systemScheduler } from './scheduler.js';
import {
  closeSocket,
  OPEN,
  offeredProtocols,
  resolveWebSocket,
  type WebSocketConstructor,
  type WebSocketLike,
} from './socket.js';

export interface ExoClientOptions {
  /** e.g. ws://localhost:8080 */
  readonly url: string;
  /** The WebSocket implementation; default the global one. In Node before 22, pass `ws`. */
  readonly WebSocket?: WebSocketConstructor;
  /** An auth token (or a function giving a fresh one per connection), offered as `exo.auth.<token>`. */
  readonly token?: string | (() => string | Promise<string>);
  /** Take over a session held elsewhere (a reloaded page) on the first join. */
  readonly resumeToken?: string;
  readonly scheduler?: Scheduler;
  /** Jitter source in [0, 1). */
  readonly random?: () => number;
  readonly heartbeatIntervalMs?: number;
  readonly heartbeatTimeoutMs?: number;
  /** The camera frame interval per planet. */
  readonly cameraIntervalMs?: number;
  /** Camera frames wait while more than this many bytes are queued on the socket. */
  readonly cameraBufferLimitBytes?: number;
  readonly backoff?: Partial<BackoffOptions>;
  /** How often a command refused with RATE_LIMITED is sent again after the wait. */
  readonly rateLimitRetries?: number;
}

/** Join refusals after a reconnect that another attempt would not change. */
const RESTORE_TERMINAL = new Set([
  'FORBIDDEN',
  'ROOM_FULL',
  'USER_MISMATCH',
  'ALREADY_JOINED',
  'LIMIT_EXCEEDED',
]);

export class ExoClient {
  private readonly events = new Emitter<ExoClientEvents>();
  private readonly mirror = new RoomMirror();
  private readonly scheduler: Scheduler;
  private readonly WS: WebSocketConstructor;
  private readonly random: () => number;
  private readonly backoff: BackoffOptions;
  private readonly queue: RequestQueue;
  private readonly cameras: CameraCoalescer;
  private readonly heartbeat: Heartbeat;
  private readonly cameraBufferLimit: number;

  private current: ConnectionState = 'closed';
  private ws: WebSocketLike | null = null;
  /** Sockets given up on (no heartbeat answer) but maybe still open; closed once replaced. */
  private readonly stale = new Set<WebSocketLike>();
  private generation = 0;
  private attempt = 0;
  private reconnectTimer: unknown = null;
  private ready = false;
  private userClosed = true;
  private idle = false;
  private openWaiters: { resolve(): void; reject(error: ExoError): void }[] = [];

  private readonly intent: Intent;
  private readonly inbound: Inbound;

  constructor(private readonly options: ExoClientOptions) {
    this.scheduler = options.scheduler ?? systemScheduler;
    this.WS = resolveWebSocket(options.WebSocket);
    this.random = options.random ?? Math.random;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.intent = new Intent(options.resumeToken);
    this.cameraBufferLimit = options.cameraBufferLimitBytes ?? 64 * 1024;
    this.queue = new RequestQueue(
      this.scheduler,
      (message) => this.ws?.send(JSON.stringify(message)),
      options.rateLimitRetries ?? 3,
    );
    this.cameras = new CameraCoalescer(this.scheduler, options.cameraIntervalMs ?? 50, (planetId, camera) =>
      this.transmitCamera(planetId, camera),
    );
    this.heartbeat = new Heartbeat(
      this.scheduler,
      { intervalMs: options.heartbeatIntervalMs ?? 30_000, timeoutMs: options.heartbeatTimeoutMs ?? 10_000 },
      () => this.beat(),
      () => this.abandon('no answer to a heartbeat'),
    );
    this.inbound = new Inbound({
      mirror: this.mirror,
      events: this.events,
      queue: this.queue,
      cameras: this.cameras,
      heartbeat: this.heartbeat,
      intent: this.intent,
      scheduler: this.scheduler,
      closeStale: () => {
        for (const ws of this.stale) void closeSocket(ws);
        this.stale.clear();
      },
    });
  }

  on<K extends keyof ExoClientEvents>(type: K, listener: (payload: ExoClientEvents[K]) => void): () => void {
    return this.events.on(type, listener);
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** The mirrored room; its maps and sets are live and read-only: copy what you keep. */
  get room(): RoomView {
    return this.mirror.view();
  }

  /** The token that takes this session over (keep it to resume after a page reload), once joined. */
  get resumeToken(): string | null {
    return this.intent.session?.resumeToken ?? null;
  }

  /** The server's clock, estimated from heartbeat round trips: compare with `expiresAt`. */
  serverNow(): number {
    return this.scheduler.now() + this.inbound.clockOffsetMs;
  }

  /** Opens the connection; resolves once open, rejects if it ends for good first. */
  connect(): Promise<void> {
    if (this.current === 'closed') {
      this.userClosed = false;
      this.idle = false;
      this.attempt = 0;
      this.setState({ state: 'connecting' });
      this.openSocket();
    }
    return this.whenOpen();
  }

  /** Closes the connection for good (a clean close: the server lets the user leave at once). */
  async close(): Promise<void> {
    this.userClosed = true;
    const sockets = [...this.stale, ...(this.ws === null ? [] : [this.ws])];
    this.shutDown(new ExoError('CLOSED', 'the client was closed'));
    this.setState({ state: 'closed' });
    await Promise.all(sockets.map(closeSocket));
  }

  async join(roomId: string, user: UserProfile): Promise<JoinResult> {
    const { intent } = this;
    intent.speaker = user.userId;
    const sameSession = intent.session?.roomId === roomId && intent.session.user.userId === user.userId;
    const resumeToken = sameSession ? undefined : intent.pendingResumeToken;
    intent.pendingResumeToken = undefined;
    const ack = (await this.command(
      resumeToken === undefined
        ? { type: 'join', roomId, user }
        : { type: 'join', roomId, user, resumeToken },
    )) as AckMessage;
    return { resumeToken: ack.resumeToken ?? '', viewing: ack.viewing ?? [], lock: ack.lock };
  }

  async leave(): Promise<void> {
    await this.command({ type: 'leave', userId: this.requireSpeaker() });
  }

  async select(planetId: string): Promise<SelectResult> {
    const answer = await this.command({ type: 'select', planetId, userId: this.requireSpeaker() });
    if (answer.type === 'conflict') {
      const { lockedBy, expiresAt } = answer;
      return { status: 'conflict', planetId, lockedBy, expiresAt };
    }
    return { status: 'granted', planetId, expiresAt: answer.expiresAt ?? 0, fence: answer.fence };
  }

  async unselect(planetId: string): Promise<void> {
    await this.command({ type: 'unselect', planetId, userId: this.requireSpeaker() });
  }

  async joinViewer(planetId: string): Promise<void> {
    await this.command({ type: 'join_viewer', planetId, userId: this.requireSpeaker() });
  }

  async leaveViewer(planetId: string): Promise<void> {
    await this.command({ type: 'leave_viewer', planetId, userId: this.requireSpeaker() });
  }

  /** Sends our camera for a viewed planet, latest-wins: call it every frame if you like. */
  sendCamera(planetId: string, camera: CameraState): void {
    const checked = v.safeParse(CameraStateSchema, camera);
    if (!checked.success) {
      throw new ExoError('BAD_MESSAGE', `not a camera: ${checked.issues[0].message}`, { op: 'camera' });
    }
    this.cameras.offer(planetId, checked.output);
  }

  // ── connection lifecycle ────────────────────────────────────────────────────────────────────

  private openSocket(): void {
    const generation = ++this.generation;
    const token = this.options.token;
    const attach = (value: string | undefined) => {
      if (generation !== this.generation || this.userClosed) return;
      let ws: WebSocketLike;
      try {
        ws = new this.WS(this.options.url, offeredProtocols(value));
      } catch (err) {
        return this.fail(new ExoError('CLOSED', `cannot open ${this.options.url}: ${String(err)}`));
      }
      this.attach(ws);
    };
    if (typeof token !== 'function') return attach(token);
    Promise.resolve()
      .then(token)
      .then(attach, (err: unknown) => this.fail(new ExoError('UNAUTHORIZED', `no token: ${String(err)}`)));
  }

  private attach(ws: WebSocketLike): void {
    this.ws = ws;
    let refusal: number | null = null;
    ws.onopen = () => {
      if (ws === this.ws) this.opened(ws);
    };
    ws.onmessage = (event) => {
      if (ws === this.ws) this.inbound.received(event.data);
    };
    ws.onerror = (event) => {
      refusal = refusedStatus(event) ?? refusal;
    };
    ws.onclose = (event) => {
      this.stale.delete(ws);
      if (ws === this.ws) this.dropped(event.code, event.reason, refusal);
    };
  }

  private opened(ws: WebSocketLike): void {
    this.mirror.resetSeq();
    const session = this.intent.session;
    if (session === null) {
      this.attempt = 0;
      this.ready = true;
      this.queue.setMode('open');
      this.setState({ state: 'open' });
      return;
    }
    this.queue.setMode('restoring');
    void this.restore(ws, session);
  }

  private async restore(ws: WebSocketLike, session: Session): Promise<void> {
    const want = this.intent.snapshot();
    let report: ExoClientEvents['restored'];
    try {
      report = await restoreSession((command) => this.queue.request(command, true), session, want);
    } catch (err) {
      if (ws !== this.ws) return;
      const error = err instanceof ExoError ? err : new ExoError('PROTOCOL', String(err));
      if (RESTORE_TERMINAL.has(error.code)) return this.fail(error);
      return this.abandon(`the session could not be restored: ${error.message}`);
    }
    if (ws !== this.ws) return;
    this.attempt = 0;
    this.ready = true;
    this.queue.setMode('open');
    for (const planetId of this.mirror.viewingPlanets()) this.cameras.resend(planetId);
    this.setState({ state: 'open' });
    this.events.emit('restored', report);
  }

  private dropped(code: number, reason: string, refusal: number | null): void {
    this.ws = null;
    this.ready = false;
    this.heartbeat.stop();
    this.queue.disconnected();
    if (this.userClosed) return;
    const action = refusal === null ? closeAction(code, reason) : refusalAction(refusal);
    if (action.kind === 'terminal') return this.fail(action.error, code, reason);
    if (code === 4002 && this.intent.session === null && this.queue.waitingCount === 0) {
      this.idle = true;
      return this.setState({ state: 'closed', closeCode: code, closeReason: reason });
    }
    const retryInMs = reconnectDelay(this.attempt++, action.floorMs, this.backoff, this.random);
    this.setState({
      state: 'reconnecting',
      closeCode: code,
      closeReason: reason,
      retryInMs,
      attempt: this.attempt,
    });
    this.reconnectTimer = this.scheduler.setTimeout(() => {
      this.reconnectTimer = null;
      this.openSocket();
    }, retryInMs);
  }

  /** Gives up on a socket that may still be open (the server may hold it): reconnect and take over. */
  private abandon(reason: string): void {
    const ws = this.ws;
    if (ws === null) return;
    this.stale.add(ws);
    this.dropped(1006, reason, null);
  }

  private fail(error: ExoError, closeCode?: number, closeReason?: string): void {
    const sockets = [...this.stale, ...(this.ws === null ? [] : [this.ws])];
    this.shutDown(error);
    for (const ws of sockets) void closeSocket(ws);
    this.setState({
      state: 'closed',
      error,
      ...(closeCode === undefined ? {} : { closeCode }),
      ...(closeReason === undefined ? {} : { closeReason }),
    });
  }

  private shutDown(error: ExoError): void {
    this.generation++;
    this.ws = null;
    this.stale.clear();
    this.ready = false;
    this.idle = false;
    if (this.reconnectTimer !== null) this.scheduler.clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    this.heartbeat.stop();
    this.cameras.clear();
    this.queue.failAll(error);
    for (const waiter of this.openWaiters.splice(0)) waiter.reject(error);
  }

  private setState(change: Omit<ConnectionStateChange, 'previous'>): void {
    const previous = this.current;
    this.current = change.state;
    if (change.state === 'open') for (const waiter of this.openWaiters.splice(0)) waiter.resolve();
    this.events.emit('state', { ...change, previous });
  }

  private whenOpen(): Promise<void> {
    if (this.current === 'open') return Promise.resolve();
    return new Promise((resolve, reject) => this.openWaiters.push({ resolve, reject }));
  }

  // ── commands ────────────────────────────────────────────────────────────────────────────────

  private command(command: Command): Promise<Answer> {
    if (this.current === 'closed') {
      if (!this.idle) return Promise.reject(new ExoError('CLOSED', 'not connected: call connect() first'));
      this.idle = false;
      this.setState({ state: 'connecting' });
      this.openSocket();
    }
    return this.queue.request(command);
  }

  private requireSpeaker(): string {
    if (this.intent.speaker === null) throw new ExoError('NOT_JOINED', 'join a room first');
    return this.intent.speaker;
  }

  private beat(): boolean {
    const userId = this.intent.speaker;
    if (userId === null || !this.ready || !this.queue.flowing) return false;
    // Its ack renews the lock (inbound.ts); a refusal needs nothing done: the next beat comes anyway.
    this.queue.request({ type: 'heartbeat', userId, ts: this.scheduler.now() }).catch(() => undefined);
    return true;
  }

  private transmitCamera(planetId: string, camera: CameraState): TransmitResult {
    const ws = this.ws;
    const userId = this.intent.speaker;
    if (ws === null || !this.ready || userId === null || ws.readyState !== OPEN) return 'unavailable';
    if (!this.mirror.isViewing(planetId)) return 'unavailable';
    if (ws.bufferedAmount > this.cameraBufferLimit) return 'busy';
    ws.send(JSON.stringify({ type: 'camera', planetId, userId, camera }));
    return 'sent';
  }
}
