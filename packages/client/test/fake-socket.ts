// A WebSocket stand-in driven by the test, for rules that need no server: which close codes
// reconnect and after how long. Every constructed socket is kept, newest last.

import type { WebSocketConstructor, WebSocketLike } from '../src/index.js';

export class FakeSocket implements WebSocketLike {
  static made: FakeSocket[] = [];
  readyState = 0;
  bufferedAmount = 0;
  onopen: WebSocketLike['onopen'] = null;
  onmessage: WebSocketLike['onmessage'] = null;
  onclose: WebSocketLike['onclose'] = null;
  onerror: WebSocketLike['onerror'] = null;
  readonly sent: Record<string, unknown>[] = [];

  constructor(readonly url: string) {
    FakeSocket.made.push(this);
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }

  close(code = 1000): void {
    this.serverClose(code);
  }

  serverOpen(): void {
    this.readyState = 1;
    this.onopen?.({});
  }

  serverSend(message: object): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }

  serverClose(code: number, reason = ''): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }

  /** Answers the client's last frame (a join) with a presence, selection_state and ack. */
  acceptJoin(userId: string): void {
    const join = this.sent.at(-1)!;
    this.serverSend({
      type: 'presence',
      users: [{ userId, joinedAt: 1, lastSeen: 1, connected: true }],
      seq: 1,
    });
    this.serverSend({ type: 'selection_state', selected: {}, seq: 1 });
    this.serverSend({ type: 'ack', op: 'join', ok: true, rid: join.rid, resumeToken: 'tok', viewing: [] });
  }
}

export const FakeWebSocket: WebSocketConstructor = FakeSocket;

export function latestSocket(): FakeSocket {
  return FakeSocket.made.at(-1)!;
}
