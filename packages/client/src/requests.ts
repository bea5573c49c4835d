// Commands in flight and waiting. Rules:
// - every command gets a fresh integer `rid`; its ack or conflict resolves it, its error rejects it
//   with an ExoError (CONTRACT §2–3: exactly one answer per command, echoing the rid);
// - commands wait in order while the gate is shut: no open connection, a reconnect's restore running
//   (only the restore's own commands pass), or a RATE_LIMITED wait;
// - a command refused with RATE_LIMITED shuts the gate for its `retryAfterMs` and is sent again in
//   its original place, up to `retries` times; then it rejects with the server's error. A refused
//   frame uses up no budget (protocol.md), so the resend after the wait is accepted. After the wait
//   commands go one at a time until one is answered otherwise: a burst resent whole would be refused
//   again, and refusals still count toward the flood limit that closes the connection (1008);
// - when the connection drops, commands in flight reject with DISCONNECTED (the server may or may
//   not have applied them) and the restore's commands are dropped; the others wait for the next one.

import type { AckMessage, ClientMessage, ConflictMessage, ErrorMessage } from '@exo/protocol';
import { ExoError } from './errors.js';
import type { Scheduler } from './scheduler.js';

type WithoutRid<T> = T extends unknown ? Omit<T, 'rid'> : never;
export type Command = WithoutRid<Exclude<ClientMessage, { type: 'camera' }>>;
export type Answer = AckMessage | ConflictMessage;

export interface Request {
  readonly rid: number;
  readonly command: Command;
  readonly restore: boolean;
  retriesLeft: number;
  resolve(answer: Answer): void;
  reject(error: ExoError): void;
}

export type GateMode = 'shut' | 'restoring' | 'open';

export class RequestQueue {
  private nextRid = 1;
  private readonly waiting: Request[] = [];
  private readonly inflight = new Map<number, Request>();
  private mode: GateMode = 'shut';
  private blockedUntil = 0;
  private probing = false;
  private timer: unknown = null;

  constructor(
    private readonly scheduler: Scheduler,
    private readonly transmit: (message: ClientMessage) => void,
    private readonly retries: number,
  ) {}

  request(command: Command, restore = false): Promise<Answer> {
    return new Promise<Answer>((resolve, reject) => {
      this.waiting.push({
        rid: this.nextRid++,
        command,
        restore,
        retriesLeft: this.retries,
        resolve,
        reject,
      });
      this.pump();
    });
  }

  setMode(mode: GateMode): void {
    this.mode = mode;
    this.pump();
  }

  /** The in-flight request an answer is for, taken off the table; undefined when none matches. */
  take(rid: unknown): Request | undefined {
    if (typeof rid !== 'number') return undefined;
    const request = this.inflight.get(rid);
    this.inflight.delete(rid);
    return request;
  }

  /** Settles a request the server answered with an ack or a conflict. */
  answered(request: Request, answer: Answer): void {
    this.probing = false;
    request.resolve(answer);
    this.pump();
  }

  /** Rejects a request whose answer could not be read. */
  failed(request: Request, error: ExoError): void {
    this.probing = false;
    request.reject(error);
    this.pump();
  }

  /** Settles a request refused by the server: a RATE_LIMITED with retries left waits and goes again. */
  refused(request: Request, error: ErrorMessage): void {
    if (error.code === 'RATE_LIMITED') {
      this.probing = true;
      this.blockedUntil = Math.max(this.blockedUntil, this.scheduler.now() + (error.retryAfterMs ?? 1000));
      if (request.retriesLeft > 0) {
        request.retriesLeft--;
        this.requeue(request);
        return this.pump();
      }
    } else {
      this.probing = false;
    }
    request.reject(ExoError.fromMessage(error));
    this.pump();
  }

  /** The connection dropped: what was sent is rejected, restore commands are dropped, the rest waits. */
  disconnected(): void {
    this.mode = 'shut';
    this.probing = false;
    this.blockedUntil = 0; // budgets are per connection
    const lost = new ExoError('DISCONNECTED', 'the connection dropped before the server answered');
    for (const request of this.inflight.values()) request.reject(lost);
    this.inflight.clear();
    for (let i = this.waiting.length - 1; i >= 0; i--) {
      const request = this.waiting[i]!;
      if (request.restore) {
        this.waiting.splice(i, 1);
        request.reject(lost);
      }
    }
  }

  /** Rejects every request, sent or not (the client closed for good). */
  failAll(error: ExoError): void {
    this.mode = 'shut';
    this.cancelTimer();
    for (const request of [...this.inflight.values(), ...this.waiting.splice(0)]) request.reject(error);
    this.inflight.clear();
  }

  /** Whether a command made now would be sent at once. */
  get flowing(): boolean {
    return (
      this.mode === 'open' &&
      !this.probing &&
      this.waiting.length === 0 &&
      this.scheduler.now() >= this.blockedUntil
    );
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  private requeue(request: Request): void {
    const at = this.waiting.findIndex((other) => other.rid > request.rid);
    this.waiting.splice(at === -1 ? this.waiting.length : at, 0, request);
  }

  private pump(): void {
    if (this.mode === 'shut') return;
    const now = this.scheduler.now();
    if (now < this.blockedUntil) return this.armTimer(this.blockedUntil - now);
    for (let i = 0; i < this.waiting.length; ) {
      if (this.probing && this.inflight.size > 0) return;
      const request = this.waiting[i]!;
      if (this.mode === 'restoring' && !request.restore) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      this.inflight.set(request.rid, request);
      this.transmit({ ...request.command, rid: request.rid } as ClientMessage);
    }
  }

  private armTimer(ms: number): void {
    if (this.timer !== null) return;
    this.timer = this.scheduler.setTimeout(() => {
      this.timer = null;
      this.pump();
    }, ms);
  }

  private cancelTimer(): void {
    if (this.timer !== null) this.scheduler.clearTimeout(this.timer);
    this.timer = null;
  }
}
