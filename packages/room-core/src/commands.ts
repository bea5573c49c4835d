// Commands are what the shell feeds the core: a connection opened, a frame arrived (already
// decoded by @exo/protocol, good or bad), a connection closed, or time passed. Each carries `at`,
// the shell's clock reading; the core never reads a clock of its own.

import type { ParseResult } from '@exo/protocol';

export type ConnId = string;

/** How a socket closed, as far as the reconnect grace cares (CONTRACT §4). */
export type CloseKind = 'network' | 'going_away' | 'other';

export interface ConnAuth {
  /** The verified subject: the only userId this connection may join as. */
  readonly userId: string;
  /** When the credential expires (ms since epoch); the connection is closed with 4401 then. */
  readonly expiresAt?: number;
}

export interface OpenCommand {
  readonly type: 'open';
  readonly conn: ConnId;
  readonly at: number;
  readonly auth?: ConnAuth;
}

export interface FrameCommand {
  readonly type: 'frame';
  readonly conn: ConnId;
  readonly at: number;
  readonly input: ParseResult;
  /** A fresh unguessable token, handed out if this frame is a join that grants one. */
  readonly token?: string;
}

export interface CloseCommand {
  readonly type: 'close';
  readonly conn: ConnId;
  readonly at: number;
  readonly kind: CloseKind;
  /** Overrides the configured reconnect grace for this close (a cluster drain keeps users longer). */
  readonly graceMs?: number;
}

export interface TickCommand {
  readonly type: 'tick';
  readonly at: number;
}

export type Command = OpenCommand | FrameCommand | CloseCommand | TickCommand;
