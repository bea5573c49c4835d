// A small stateful wrapper for embedders: it reads the injected Clock for every command, draws
// resume tokens from the injected TokenSource, and returns the effects to carry out. The shell
// keeps one timer armed at `nextDeadline()` and calls `tick()` when it fires.

import type { ParseResult } from '@exo/protocol';
import type { CloseKind, Command, ConnAuth, ConnId } from './commands.js';
import { type CoreConfig, resolveConfig } from './config.js';
import { nextDeadline } from './deadline.js';
import type { Effect } from './effects.js';
import { type CoreSnapshot, inspect } from './inspect.js';
import { type CoreState, createState } from './state.js';
import { type CoreStats, stats } from './stats.js';
import { step } from './step.js';

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

export interface TokenSource {
  /** A fresh unguessable string, at most 256 characters. */
  next(): string;
}

/** A clock for tests and simulations: it moves only when told, and never backwards. */
export class ManualClock implements Clock {
  constructor(private current = 0) {}

  now(): number {
    return this.current;
  }

  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`a clock cannot move by ${ms} ms`);
    this.current += ms;
  }

  set(at: number): void {
    if (!(at >= this.current)) throw new RangeError(`a clock cannot go back from ${this.current} to ${at}`);
    this.current = at;
  }
}

/** Deterministic tokens for tests; never use these where a token must be unguessable. */
export class CountingTokens implements TokenSource {
  private n = 0;
  constructor(private readonly prefix = 'token-') {}
  next(): string {
    return `${this.prefix}${++this.n}`;
  }
}

export interface EngineOptions {
  readonly config?: Partial<CoreConfig>;
  readonly clock: Clock;
  readonly tokens: TokenSource;
}

export class RoomEngine {
  readonly state: CoreState;
  private readonly clock: Clock;
  private readonly tokens: TokenSource;

  constructor(options: EngineOptions) {
    this.clock = options.clock;
    this.tokens = options.tokens;
    this.state = createState(resolveConfig(options.config), options.clock.now());
  }

  get config(): CoreConfig {
    return this.state.config;
  }

  open(conn: ConnId, auth?: ConnAuth): Effect[] {
    return this.apply(
      auth === undefined
        ? { type: 'open', conn, at: this.clock.now() }
        : { type: 'open', conn, at: this.clock.now(), auth },
    );
  }

  frame(conn: ConnId, input: ParseResult): Effect[] {
    const at = this.clock.now();
    if (input.ok && input.message.type === 'join') {
      return this.apply({ type: 'frame', conn, at, input, token: this.tokens.next() });
    }
    return this.apply({ type: 'frame', conn, at, input });
  }

  close(conn: ConnId, kind: CloseKind, graceMs?: number): Effect[] {
    const at = this.clock.now();
    return this.apply(
      graceMs === undefined ? { type: 'close', conn, at, kind } : { type: 'close', conn, at, kind, graceMs },
    );
  }

  tick(): Effect[] {
    return this.apply({ type: 'tick', at: this.clock.now() });
  }

  /** When `tick` should next be called (ms since epoch), or null when nothing is pending. */
  nextDeadline(): number | null {
    return nextDeadline(this.state);
  }

  inspect(): CoreSnapshot {
    return inspect(this.state);
  }

  stats(): CoreStats {
    return stats(this.state);
  }

  apply(command: Command): Effect[] {
    return step(this.state, command);
  }
}
