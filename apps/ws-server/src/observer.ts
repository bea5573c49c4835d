// What the socket hub reports as it works, for metrics: a port narrow enough that hub.ts imports no
// metrics library and a test fake is a few lines. Rules: every method is called synchronously on
// the hot path, in the order things happen, so an implementation does O(1) work and never throws;
// the default observer does nothing.

import type { ParseResult, ServerMessage } from '@exo/protocol';

export interface HubObserver {
  /** A client frame, decoded, just before the engine applies it. */
  frameIn(input: ParseResult): void;
  /** Every effect of that frame's step has been carried out. */
  frameDone(): void;
  /** One message produced for `recipients` connections, written at once to `written` of them. */
  messageOut(message: ServerMessage, recipients: number, written: number): void;
  /** A camera relay held back because its reader is over the soft limit. */
  relayHeld(): void;
  /** `count` held relays written once their reader drained. */
  relaysFlushed(count: number): void;
  /** A connection closed with 1013 for reading too slowly. */
  slowReaderClosed(): void;
}

export const noopObserver: HubObserver = {
  frameIn() {},
  frameDone() {},
  messageOut() {},
  relayHeld() {},
  relaysFlushed() {},
  slowReaderClosed() {},
};
