// @exo/client: the typed SDK of the Exo realtime server, for browsers and Node. `new ExoClient({ url })`
// connects, joins a room, locks planets and syncs cameras; commands settle with the server's answer,
// the room is mirrored locally for a UI to render, and reconnects restore the session by themselves.

export type { CameraState, LockInfo, PresenceUser, UserProfile } from '@exo/protocol';
export { type BackoffOptions, DEFAULT_BACKOFF, reconnectDelay } from './backoff.js';
export { ExoClient, type ExoClientOptions } from './client.js';
export { BACK_OFF_FLOOR_MS, type CloseAction, closeAction, refusalAction } from './close-policy.js';
export { type ClientErrorCode, ExoError } from './errors.js';
export type {
  CameraRelayEvent,
  ConflictEvent,
  ConnectionState,
  ConnectionStateChange,
  ExoClientEvents,
  JoinResult,
  RestoreReport,
  SelectResult,
  ViewerCamerasEvent,
} from './events.js';
export type { RoomView, SelectionView } from './mirror.js';
export { ManualScheduler, type Scheduler, systemScheduler } from './scheduler.js';
export { SUBPROTOCOL, type WebSocketConstructor, type WebSocketLike } from './socket.js';
