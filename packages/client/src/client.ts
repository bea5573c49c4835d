// ExoClient: one user's connection to an Exo realtime server. Rules:
// - `connect()` opens the socket; `join`, `leave`, `select`, `unselect`, `joinViewer`, `leaveViewer`
//   return promises settled by the server's answer to their rid (see requests.ts); `sendCamera` is
//   fire-and-forget and coalesced (camera-coalescer.ts);
// - state: connecting → open; on a close that allows it (close-policy.ts) → reconnecting, with
//   back-off (backoff.ts), then a restore of the session (restore.ts) → open; a terminal close or
//   `close()` → closed, and every pending command rejects;
// - a 4002 (joined to nothing in time) with nothing to send leaves the client closed but not
//   terminal: the next command reconnects;
// - the mirror (mirror.ts) is updated before a command's promise settles, since the server sends a
//   command's own state messages before its answer (CONTRACT §3).

import {
  type AckMessage,
  type CameraState,
  CameraStateSchema,
  type ConflictMessage,
  type ErrorMessage,
  type ServerMessage,
  ServerMessageSchema,
  type UserProfile,
} from '@exo/protocol';
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
import { RoomMirror, type RoomView } from './mirror.js';
import { type Answer, type Command, type Request, RequestQueue } from './requests.js';
import { restoreSession, type Session } from './restore.js';
import { type Scheduler, systemScheduler } from './scheduler.js';
import {
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

  private session: Session | null = null;
  /** The user commands speak for: the last join's, from the moment join is called. */
  private speaker: string | null = null;
  private pendingResumeToken: string | undefined;
  private wantSelection: string | null = null;
  private readonly wantViewers = new Set<string>();
  private clockOffsetMs = 0;

  constructor(private readonly options: ExoClientOptions) {
    this.scheduler = options.scheduler ?? systemScheduler;
    this.WS = resolveWebSocket(options.WebSocket);
    this.random = options.random ?? Math.random;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.pendingResumeToken = options.resumeToken;
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
    return this.session?.resumeToken ?? null;
  }

  /** The server's clock, estimated from heartbeat round trips: compare with `expiresAt`. */
  serverNow(): number {
    return this.scheduler.now() + this.clockOffsetMs;
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
    this.speaker = user.userId;
    const sameSession = this.session?.roomId === roomId && this.session.user.userId === user.userId;
    const resumeToken = sameSession ? undefined : this.pendingResumeToken;
    this.pendingResumeToken = undefined;
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
      if (ws === this.ws) this.received(event.data);
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
    if (this.session === null) {
      this.attempt = 0;
      this.ready = true;
      this.queue.setMode('open');
      this.setState({ state: 'open' });
      return;
    }
    this.queue.setMode('restoring');
    void this.restore(ws, this.session);
  }

  private async restore(ws: WebSocketLike, session: Session): Promise<void> {
    const want = { selection: this.wantSelection, viewers: [...this.wantViewers] };
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
    if (code === 4002 && this.session === null && this.queue.waitingCount === 0) {
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
    if (this.speaker === null) throw new ExoError('NOT_JOINED', 'join a room first');
    return this.speaker;
  }

  private beat(): boolean {
    const userId = this.speaker;
    if (userId === null || !this.ready || !this.queue.flowing) return false;
    // Its ack renews the lock (applyAck); a refusal needs nothing done: the next beat comes anyway.
    this.queue.request({ type: 'heartbeat', userId, ts: this.scheduler.now() }).catch(() => undefined);
    return true;
  }

  private transmitCamera(planetId: string, camera: CameraState): TransmitResult {
    const ws = this.ws;
    const userId = this.speaker;
    if (ws === null || !this.ready || userId === null || ws.readyState !== OPEN) return 'unavailable';
    if (!this.mirror.isViewing(planetId)) return 'unavailable';
    if (ws.bufferedAmount > this.cameraBufferLimit) return 'busy';
    ws.send(JSON.stringify({ type: 'camera', planetId, userId, camera }));
    return 'sent';
  }

  // ── inbound ─────────────────────────────────────────────────────────────────────────────────

  private received(data: unknown): void {
    this.heartbeat.received();
    const message = decode(data);
    if (message instanceof ExoError) return this.events.emit('serverError', message);
    switch (message.type) {
      case 'presence':
        if (!this.mirror.applyPresence(message.users, message.seq)) return;
        this.events.emit('presence', message.users);
        return this.changed();
      case 'selection_state': {
        const applied = this.mirror.applySelection(message);
        if (applied === null) return;
        if (applied.lockLost) {
          this.wantSelection = null;
          this.events.emit('lock', null);
        }
        this.events.emit('selection', this.mirror.view().selections);
        return this.changed();
      }
      case 'viewer_cameras': {
        const { planetId, cameras, seq } = message;
        if (!this.mirror.applyViewerCameras(planetId, cameras, seq)) return;
        this.events.emit('viewerCameras', { planetId, cameras: this.mirror.view().cameras.get(planetId)! });
        return this.changed();
      }
      case 'camera': {
        const { planetId, userId, camera } = message;
        if (!this.mirror.applyRelay(planetId, userId, camera)) return;
        this.events.emit('camera', { planetId, userId, camera });
        return this.changed();
      }
      case 'conflict':
        return this.onConflict(message);
      case 'ack':
        return this.onAck(message);
      case 'error':
        return this.onError(message);
      default:
        return assertNever(message);
    }
  }

  private onAck(ack: AckMessage): void {
    const request = this.queue.take(ack.rid);
    if (request === undefined) return;
    this.applyAck(request, ack);
    this.queue.answered(request, ack);
  }

  private onConflict(conflict: ConflictMessage): void {
    const request = this.queue.take(conflict.rid);
    const { planetId, lockedBy, expiresAt } = conflict;
    this.mirror.learnExpiry(planetId, lockedBy, expiresAt);
    const duringRestore = request?.restore === true;
    if (duringRestore) this.wantSelection = null;
    this.events.emit('conflict', { planetId, lockedBy, expiresAt, duringRestore });
    this.changed();
    if (request !== undefined) this.queue.answered(request, conflict);
  }

  private onError(error: ErrorMessage): void {
    const request = this.queue.take(error.rid);
    if (request === undefined) return this.events.emit('serverError', ExoError.fromMessage(error));
    this.queue.refused(request, error);
  }

  /** What an answered command changes locally, applied before its promise settles. */
  private applyAck(request: Request, ack: AckMessage): void {
    const command = request.command;
    switch (command.type) {
      case 'join':
        return this.joined(command.roomId, command.user, ack, request.restore);
      case 'leave':
        this.session = null;
        this.speaker = null;
        this.wantSelection = null;
        this.wantViewers.clear();
        this.cameras.clear();
        this.heartbeat.stop();
        this.mirror.left();
        this.events.emit('lock', null);
        return this.changed();
      case 'select':
        this.wantSelection = command.planetId;
        return this.lockChanged({
          planetId: command.planetId,
          expiresAt: ack.expiresAt ?? 0,
          ...(ack.fence === undefined ? {} : { fence: ack.fence }),
        });
      case 'unselect':
        if (this.wantSelection === command.planetId) this.wantSelection = null;
        if (this.mirror.currentLock?.planetId === command.planetId) this.lockChanged(null);
        return;
      case 'join_viewer':
        this.wantViewers.add(command.planetId);
        this.mirror.addViewing(command.planetId);
        this.cameras.resend(command.planetId);
        return this.changed();
      case 'leave_viewer':
        this.wantViewers.delete(command.planetId);
        this.mirror.removeViewing(command.planetId);
        this.cameras.forget(command.planetId);
        return this.changed();
      case 'heartbeat':
        if (ack.serverTs !== undefined) {
          this.clockOffsetMs = ack.serverTs - (command.ts + this.scheduler.now()) / 2;
        }
        if (ack.expiresAt !== undefined && this.mirror.currentLock !== null) {
          this.mirror.renewLock(ack.expiresAt);
          this.events.emit('lock', this.mirror.currentLock);
          this.changed();
        }
        return;
      default:
        return assertNever(command);
    }
  }

  private joined(roomId: string, user: UserProfile, ack: AckMessage, restore: boolean): void {
    this.session = { roomId, user, resumeToken: ack.resumeToken ?? '' };
    const viewing = ack.viewing ?? [];
    if (restore) {
      // Keep what was wanted before the drop: the restore is about to ask for what is missing.
      for (const planetId of viewing) this.wantViewers.add(planetId);
      if (ack.lock !== undefined) this.wantSelection = ack.lock.planetId;
    } else {
      this.wantViewers.clear();
      for (const planetId of viewing) this.wantViewers.add(planetId);
      this.wantSelection = ack.lock?.planetId ?? null;
    }
    this.mirror.joined(roomId, user.userId, ack.lock, viewing);
    for (const ws of this.stale) void closeSocket(ws);
    this.stale.clear();
    this.heartbeat.start();
    this.events.emit('lock', this.mirror.currentLock);
    this.changed();
  }

  private lockChanged(lock: Parameters<RoomMirror['setLock']>[0]): void {
    this.mirror.setLock(lock);
    this.events.emit('lock', lock);
    this.changed();
  }

  private changed(): void {
    this.events.emit('change', this.mirror.view());
  }
}

function decode(data: unknown): ServerMessage | ExoError {
  if (typeof data !== 'string') return new ExoError('PROTOCOL', 'the server sent a binary frame');
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    // Not JSON is the answer here, reported as such; nothing else can throw in JSON.parse.
    return new ExoError('PROTOCOL', `the server sent a frame that is not JSON: ${data.slice(0, 80)}`);
  }
  const parsed = v.safeParse(ServerMessageSchema, value);
  if (parsed.success) return parsed.output;
  const issue = parsed.issues[0];
  return new ExoError(
    'PROTOCOL',
    `the server sent a frame this client does not understand: ${issue.message}`,
  );
}

/** Closes a socket (code 1000) and resolves once it is closed. */
function closeSocket(ws: WebSocketLike): Promise<void> {
  if (ws.readyState === 3) return Promise.resolve();
  return new Promise((resolve) => {
    ws.onclose = () => resolve();
    ws.onerror = () => undefined;
    ws.onmessage = null;
    ws.close(1000);
  });
}

function assertNever(value: never): never {
  throw new Error(`unhandled: ${JSON.stringify(value)}`);
}
