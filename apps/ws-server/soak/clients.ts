// The soak's clients and what they count. A `SoakClient` is a WebSocket that parses what it gets,
// counts it in the shared `Tally`, and answers `request`s by their rid; every socket the soak opens,
// WebSocket or raw TCP, is registered in `Sockets` so the driver can cut them all at the end. Every
// wait has a deadline: nothing here can hang the soak.

import { type Socket, connect as tcpConnect } from 'node:net';
import WebSocket from 'ws';

export class Tally {
  /** WebSocket connections opened (upgrades that succeeded). */
  wsOpened = 0;
  /** Raw TCP connections opened (garbage handshakes and the like). */
  tcpOpened = 0;
  /** Connections that failed to open, by reason (should stay empty: the soak stays under every cap). */
  readonly openFailed = new Map<string, number>();
  framesSent = 0;
  /** Server messages by type. */
  readonly received = new Map<string, number>();
  /** Requests that got no answer before their deadline while the socket stayed open. */
  unanswered = 0;
  readonly errors = new Map<string, number>();
  readonly closes = new Map<number, number>();
  readonly scenarios = new Map<string, number>();
  /** Exceptions thrown in the driver itself: a bug in the soak, or a surprise from the server. */
  readonly driverErrors: string[] = [];

  count<K>(map: Map<K, number>, key: K): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }
}

export class Sockets {
  private readonly open = new Set<{ cut(): void }>();
  private cutting = false;

  /** Registers a socket; one registered after `cutAll` (a late connect) is cut at once. */
  add(handle: { cut(): void }): () => void {
    if (this.cutting) {
      handle.cut();
      return () => {};
    }
    this.open.add(handle);
    return () => this.open.delete(handle);
  }

  /** Whether `cutAll` was called: a connection failing after it failed because of it. */
  get stopped(): boolean {
    return this.cutting;
  }

  /** Cuts every socket still open, without a close handshake, and every one opened later. */
  cutAll(): void {
    this.cutting = true;
    for (const handle of [...this.open]) handle.cut();
  }
}

export type Message = Record<string, unknown> & { type: string };

const OPEN_MS = 5000;
const ANSWER_MS = 5000;

export class SoakClient {
  /** Resolves with the close code the client saw. */
  readonly closed: Promise<number>;
  private readonly waiting = new Map<number, (answer: Message | null) => void>();
  private nextRid = 0;
  private isClosed = false;

  private constructor(
    readonly ws: WebSocket,
    private readonly tally: Tally,
  ) {
    this.closed = new Promise((resolve) =>
      ws.once('close', (code) => {
        this.isClosed = true;
        tally.count(tally.closes, code);
        for (const answer of this.waiting.values()) answer(null);
        this.waiting.clear();
        resolve(code);
      }),
    );
    ws.on('message', (data: Buffer, isBinary: boolean) => this.receive(data, isBinary));
  }

  static async open(url: string, tally: Tally, sockets: Sockets): Promise<SoakClient | null> {
    const ws = new WebSocket(url, ['exo.v1'], { handshakeTimeout: OPEN_MS });
    // Errors after the open (resets) end in 'close', counted there; before it, in a failed open.
    let failure = 'closed before opening';
    ws.on('error', (err) => {
      failure = err.message;
    });
    const opened = new Promise<boolean>((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('close', () => resolve(false));
    });
    ws.once('close', sockets.add({ cut: () => ws.terminate() }));
    if (!(await opened)) {
      if (!sockets.stopped) tally.count(tally.openFailed, failure);
      return null;
    }
    tally.wsOpened++;
    return new SoakClient(ws, tally);
  }

  get open(): boolean {
    return !this.isClosed && this.ws.readyState === WebSocket.OPEN;
  }

  /** The TCP socket under the WebSocket (ws keeps it private). */
  get socket(): Socket {
    return (this.ws as unknown as { _socket: Socket })._socket;
  }

  send(message: object | string | Buffer): void {
    if (!this.open) return;
    this.ws.send(
      typeof message === 'object' && !Buffer.isBuffer(message) ? JSON.stringify(message) : message,
    );
    this.tally.framesSent++;
  }

  /** Sends with a fresh rid; resolves with the answer, or null if the socket closed or none came. */
  request(message: object): Promise<Message | null> {
    if (!this.open) return Promise.resolve(null);
    const rid = ++this.nextRid;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(rid);
        if (this.open) this.tally.unanswered++;
        resolve(null);
      }, ANSWER_MS);
      this.waiting.set(rid, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.send({ ...message, rid });
    });
  }

  /** Resolves with the close code, or null if the socket is still open after `ms`. */
  closedWithin(ms: number): Promise<number | null> {
    return Promise.race([this.closed, new Promise<null>((resolve) => setTimeout(() => resolve(null), ms))]);
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (isBinary) return this.surprise('a binary frame from the server');
    let message: Message;
    try {
      message = JSON.parse(data.toString('utf8')) as Message;
    } catch {
      return this.surprise(`a frame that is not JSON: ${data.toString('utf8').slice(0, 80)}`);
    }
    this.tally.count(this.tally.received, String(message.type));
    if (message.type === 'error') this.tally.count(this.tally.errors, String(message.code));
    const rid = message.rid;
    if (
      typeof rid === 'number' &&
      (message.type === 'ack' || message.type === 'error' || message.type === 'conflict')
    ) {
      const answer = this.waiting.get(rid);
      this.waiting.delete(rid);
      answer?.(message);
    }
  }

  private surprise(what: string): void {
    if (this.tally.driverErrors.length < 20) this.tally.driverErrors.push(`the server sent ${what}`);
  }
}

/** A raw TCP connection to the server, registered for the final cut; resolves once connected (or null). */
export async function rawConnect(port: number, tally: Tally, sockets: Sockets): Promise<Socket | null> {
  const socket = tcpConnect(port, '127.0.0.1');
  let failure = 'closed before connecting';
  socket.on('error', (err) => {
    failure = err.message;
  });
  socket.on('data', () => {});
  const connected = new Promise<boolean>((resolve) => {
    socket.once('connect', () => resolve(true));
    socket.once('close', () => resolve(false));
  });
  socket.once('close', sockets.add({ cut: () => socket.destroy() }));
  if (!(await connected)) {
    if (!sockets.stopped) tally.count(tally.openFailed, failure);
    return null;
  }
  tally.tcpOpened++;
  return socket;
}

/** Resolves once the socket is closed, or after `ms`. */
export function socketClosed(socket: Socket, ms: number): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
