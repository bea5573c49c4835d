// The one WebSocket surface the client touches, so a browser's WebSocket, `ws` in Node or a test
// wrapper can be passed in. Rules: the client offers the `exo.v1` subprotocol (plus `exo.auth.<token>`
// when it has a token), reads only text frames, and attaches handlers through the `on…` properties,
// which every implementation has. Handler parameters are checked bivariantly (the "method" form
// below) because each implementation declares its own event classes; the client reads only `data`,
// `code`, `reason` and an error's `message`.

type Handler<E> = { bivarianceHack(event: E): void }['bivarianceHack'];

export interface WebSocketLike {
  readonly readyState: number;
  /** Bytes queued but not yet sent; the camera coalescer holds frames back while it is high. */
  readonly bufferedAmount: number;
  onopen: Handler<unknown> | null;
  onmessage: Handler<{ readonly data: unknown }> | null;
  onclose: Handler<{ readonly code: number; readonly reason: string }> | null;
  onerror: Handler<unknown> | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export const SUBPROTOCOL = 'exo.v1';
export const OPEN = 1;
export const CLOSED = 3;

/** The WebSocket to use: the one passed in, else the global one (browsers, Node 22+). */
export function resolveWebSocket(given: WebSocketConstructor | undefined): WebSocketConstructor {
  if (given !== undefined) return given;
  const global = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (global === undefined) {
    throw new TypeError("no global WebSocket here: pass one, e.g. { WebSocket } from 'ws' in Node");
  }
  return global;
}

/** The protocols offered on connect: `exo.v1` always, and the auth token as `exo.auth.<token>`. */
export function offeredProtocols(token: string | undefined): string[] {
  return token === undefined ? [SUBPROTOCOL] : [SUBPROTOCOL, `exo.auth.${token}`];
}

/** Closes a socket (code 1000, which browsers allow) and resolves once it is closed. */
export function closeSocket(ws: WebSocketLike): Promise<void> {
  if (ws.readyState === CLOSED) return Promise.resolve();
  return new Promise((resolve) => {
    ws.onclose = () => resolve();
    ws.onerror = () => undefined;
    ws.onmessage = null;
    ws.close(1000);
  });
}
