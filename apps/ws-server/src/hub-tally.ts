// Counts what the socket hub does (a HubObserver), cheaply enough for every frame: plain numbers in
// Maps, read by the metrics registry when scraped. Rules:
// - labels come from closed sets only, never from ids: a frame's client message type, `unknown` for
//   a type that is not one (UNKNOWN_TYPE), `invalid` for a frame with no usable type (BAD_JSON, a
//   binary frame, no string `type`); server message types; error codes;
// - messages out count deliveries (one per socket written); errors count answers produced;
// - relay delay: from a camera frame's arrival to the moment its relay is handed to the sockets.
//   A relay sent in the frame's own step is timed from that frame. A coalesced relay carries the
//   latest camera and is timed from that camera's arrival, which is remembered only while it is
//   pending — in a WeakMap keyed by the camera object the core keeps and relays, so a camera that is
//   superseded, cancelled or refused is forgotten with it. The delay so includes the throttle wait.

import { type CameraState, CLIENT_MESSAGE_TYPES, type ParseResult, type ServerMessage } from '@exo/protocol';
import type { HubObserver } from './observer.js';

const CLIENT_TYPES: ReadonlySet<string> = new Set(CLIENT_MESSAGE_TYPES);

export function frameLabel(input: ParseResult): string {
  if (input.ok) return input.message.type;
  if (input.error.code === 'UNKNOWN_TYPE') return 'unknown';
  const type = input.error.type;
  return type !== undefined && CLIENT_TYPES.has(type) ? type : 'invalid';
}

export class HubTally implements HubObserver {
  readonly messagesIn = new Map<string, number>();
  readonly messagesOut = new Map<string, number>();
  readonly errors = new Map<string, number>();
  rateLimited = 0;
  slowConsumerDropped = 0;
  slowConsumerClosed = 0;

  private current: CameraState | null = null;
  private currentAt = 0;
  private currentRelayed = false;
  private readonly pendingSince = new WeakMap<CameraState, number>();

  /**
   * @param onRelayDelay called with each relay's delay in seconds
   * @param now a monotonic clock in milliseconds
   */
  constructor(
    private readonly onRelayDelay: (seconds: number) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  frameIn(input: ParseResult): void {
    add(this.messagesIn, frameLabel(input), 1);
    if (input.ok && input.message.type === 'camera') {
      this.current = input.message.camera;
      this.currentAt = this.now();
      this.currentRelayed = false;
    }
  }

  frameDone(): void {
    if (this.current !== null && !this.currentRelayed) this.pendingSince.set(this.current, this.currentAt);
    this.current = null;
  }

  messageOut(message: ServerMessage, recipients: number, written: number): void {
    add(this.messagesOut, message.type, written);
    if (message.type === 'error') {
      add(this.errors, message.code, recipients);
      if (message.code === 'RATE_LIMITED') this.rateLimited += recipients;
    } else if (message.type === 'camera') {
      this.relayed(message.camera);
    }
  }

  relayHeld(): void {
    this.slowConsumerDropped++;
  }

  relaysFlushed(count: number): void {
    add(this.messagesOut, 'camera', count);
  }

  slowReaderClosed(): void {
    this.slowConsumerClosed++;
  }

  private relayed(camera: CameraState): void {
    let since: number | undefined;
    if (camera === this.current) {
      since = this.currentAt;
      this.currentRelayed = true;
    } else {
      since = this.pendingSince.get(camera);
      if (since !== undefined) this.pendingSince.delete(camera);
    }
    if (since !== undefined) this.onRelayDelay(Math.max(0, this.now() - since) / 1000);
  }
}

function add(map: Map<string, number>, key: string, n: number): void {
  if (n !== 0) map.set(key, (map.get(key) ?? 0) + n);
}
