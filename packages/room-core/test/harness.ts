// A test bench around RoomEngine: a manual clock, counting tokens, and an inbox per connection
// that collects what the effects deliver, in order. Tests speak in client messages and read what
// each connection received, as a client would.

import { parseClientMessage, parseClientValue, type ServerMessage } from '@exo/protocol';
import {
  type CloseEffect,
  type ConnAuth,
  type CoreConfig,
  CountingTokens,
  type Effect,
  ManualClock,
  RoomEngine,
} from '../src/index.js';

export interface Harness {
  readonly clock: ManualClock;
  readonly engine: RoomEngine;
  /** Every close effect so far, in order. */
  readonly closes: CloseEffect[];
  /** Every effect so far, in order. */
  readonly log: Effect[];
  open(conn: string, auth?: ConnAuth): void;
  /** Sends a client message (an object, or raw text decoded as the daemon would). */
  send(conn: string, message: object | string): Effect[];
  /** Joins `userId` to `roomId` on a new connection named after the user; empties its inbox. */
  join(userId: string, roomId?: string, extra?: Record<string, unknown>): string;
  close(conn: string, kind?: 'network' | 'going_away' | 'other', graceMs?: number): Effect[];
  /** Moves the clock and ticks, as the shell's timer would. */
  advance(ms: number): Effect[];
  /** The messages a connection received since it was last emptied; empties it. */
  take(conn: string): ServerMessage[];
  /** The messages a connection received since it was last emptied, without emptying it. */
  peek(conn: string): ServerMessage[];
  closeOf(conn: string): CloseEffect | undefined;
}

export function harness(config: Partial<CoreConfig> = {}, start = 1_000_000): Harness {
  const clock = new ManualClock(start);
  const engine = new RoomEngine({ config, clock, tokens: new CountingTokens() });
  const inboxes = new Map<string, ServerMessage[]>();
  const closes: CloseEffect[] = [];
  const log: Effect[] = [];
  const deliver = (effects: Effect[]): Effect[] => {
    for (const effect of effects) {
      log.push(effect);
      if (effect.type === 'close') {
        closes.push(effect);
        continue;
      }
      // Deliver a copy through JSON, as the wire would: no shared objects between recipients.
      const wire = JSON.stringify(effect.message);
      for (const to of effect.to) {
        const inbox = inboxes.get(to) ?? [];
        inboxes.set(to, inbox);
        inbox.push(JSON.parse(wire) as ServerMessage);
      }
    }
    return effects;
  };
  const h: Harness = {
    clock,
    engine,
    closes,
    log,
    open(conn, auth) {
      deliver(engine.open(conn, auth));
    },
    send(conn, message) {
      const input =
        typeof message === 'string'
          ? parseClientMessage(message)
          : parseClientValue(JSON.parse(JSON.stringify(message)) as unknown);
      return deliver(engine.frame(conn, input));
    },
    join(userId, roomId = 'room', extra = {}) {
      const conn = `c-${userId}`;
      h.open(conn);
      h.send(conn, { type: 'join', roomId, user: { userId }, ...extra });
      const answer = h.take(conn).at(-1);
      if (answer?.type !== 'ack') throw new Error(`join of ${userId} failed: ${JSON.stringify(answer)}`);
      return conn;
    },
    close(conn, kind = 'network', graceMs) {
      return deliver(engine.close(conn, kind, graceMs));
    },
    advance(ms) {
      clock.advance(ms);
      return deliver(engine.tick());
    },
    take(conn) {
      const inbox = inboxes.get(conn) ?? [];
      inboxes.set(conn, []);
      return inbox;
    },
    peek(conn) {
      return [...(inboxes.get(conn) ?? [])];
    },
    closeOf(conn) {
      return closes.find((c) => c.conn === conn);
    },
  };
  return h;
}

/** The types of a list of messages, for ordering assertions. */
export const types = (messages: ServerMessage[]): string[] => messages.map((m) => m.type);
