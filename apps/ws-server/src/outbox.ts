// Outgoing frames on the hot path. A message is framed once — ws's `Sender.frame`, header and
// payload joined in one buffer — and that buffer goes to every recipient through the recipient's
// own ws Sender (`sendFrame`), so a broadcast costs one serialization and one allocation, not one
// per recipient. A socket written to is corked until the end of the event-loop turn (one
// setImmediate flushes them all), so a socket that gets several messages in one turn gets them in
// one syscall; on loopback the kernel's send path is most of the cost of a relay. A socket whose
// Sender is busy (a queue, or compression in progress) or that negotiated permessage-deflate goes
// through `ws.send`, which queues and compresses as usual. Byte order per socket is call order
// either way. `buffered` is what the slow-reader limits read: the bytes the peer had not taken
// before this turn, as `ws.bufferedAmount` was before corking — a burst written within one turn
// is not yet a slow reader.

import type { Socket } from 'node:net';
import type WebSocket from 'ws';
import * as wsLib from 'ws';

interface WsSender {
  readonly _state: number;
  /** Negotiated extensions by name; `permessage-deflate` means frames are compressed per socket. */
  readonly _extensions: Readonly<Record<string, unknown>>;
  readonly _socket: Socket;
  /** Bytes queued inside the Sender itself (while compressing), not yet in the socket. */
  readonly _bufferedBytes: number;
  sendFrame(list: readonly Buffer[], cb?: (err?: Error) => void): void;
}

interface FrameOptions {
  readonly fin: boolean;
  readonly opcode: number;
  readonly mask: boolean;
  readonly readOnly: boolean;
  readonly rsv1: boolean;
}

// Not in @types/ws, but exported by ws: `Sender.frame` builds a frame's buffers.
const { Sender } = wsLib as unknown as { Sender: { frame(data: Buffer, options: FrameOptions): Buffer[] } };
const TEXT_FRAME: FrameOptions = { fin: true, opcode: 1, mask: false, readOnly: false, rsv1: false };
/** ws Sender's DEFAULT state: nothing queued, nothing being compressed. */
const SENDER_IDLE = 0;
const DEFLATE = 'permessage-deflate';

/** A message framed once for all its recipients. */
export interface Framed {
  readonly text: string;
  readonly frame: readonly Buffer[];
}

export class Outbox {
  private readonly corked: Socket[] = [];
  /** Per socket corked this turn: the bytes it still held from earlier turns when corked. */
  private readonly backlog = new Map<Socket, number>();
  private flushing: NodeJS.Immediate | null = null;

  frame(text: string): Framed {
    const [head, payload] = Sender.frame(Buffer.from(text), TEXT_FRAME);
    return { text, frame: [payload === undefined ? head! : Buffer.concat([head!, payload])] };
  }

  write(ws: WebSocket, message: Framed): void {
    const sender = (ws as unknown as { _sender: WsSender | null })._sender;
    if (sender === null || sender._state !== SENDER_IDLE || sender._extensions[DEFLATE] !== undefined) {
      ws.send(message.text);
      return;
    }
    const socket = sender._socket;
    if (socket.writableCorked === 0) {
      this.backlog.set(socket, socket.writableLength);
      socket.cork();
      this.corked.push(socket);
      this.flushing ??= setImmediate(this.flush);
    }
    sender.sendFrame(message.frame);
  }

  /** Bytes buffered for `ws` that its peer had not taken before this event-loop turn. */
  buffered(ws: WebSocket): number {
    const sender = (ws as unknown as { _sender: WsSender | null })._sender;
    const before = sender === null ? undefined : this.backlog.get(sender._socket);
    return before === undefined ? ws.bufferedAmount : before + sender!._bufferedBytes;
  }

  private readonly flush = (): void => {
    this.flushing = null;
    for (const socket of this.corked) socket.uncork();
    this.corked.length = 0;
    this.backlog.clear();
  };
}
