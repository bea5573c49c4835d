// The client's public event and result types. Rules: events are named for what happened; every
// payload is read-only; `change` fires after any other event that changed the mirror, so a UI can
// re-render from `client.room` on that one event alone.

import type { CameraState, LockInfo, PresenceUser } from '@exo/protocol';
import type { ExoError } from './errors.js';
import type { RoomView, SelectionView } from './mirror.js';

export type ConnectionState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface ConnectionStateChange {
  readonly state: ConnectionState;
  readonly previous: ConnectionState;
  /** The close that caused this change, when one did. */
  readonly closeCode?: number;
  readonly closeReason?: string;
  /** With `reconnecting`: the wait before the next attempt, and its number (1 for the first). */
  readonly retryInMs?: number;
  readonly attempt?: number;
  /** With a terminal `closed`: why the client will not reconnect. */
  readonly error?: ExoError;
}

export interface ConflictEvent {
  readonly planetId: string;
  readonly lockedBy: string;
  readonly expiresAt: number;
  /** True when the planet was lost while reconnecting: someone took it while this client was away. */
  readonly duringRestore: boolean;
}

export interface CameraRelayEvent {
  readonly planetId: string;
  readonly userId: string;
  readonly camera: CameraState;
}

export interface ViewerCamerasEvent {
  readonly planetId: string;
  readonly cameras: ReadonlyMap<string, CameraState>;
}

export interface RestoreReport {
  /** What became of the selection held before the drop. */
  readonly selection:
    | { readonly status: 'none' }
    | { readonly status: 'kept' | 'reselected'; readonly planetId: string }
    | { readonly status: 'conflict'; readonly planetId: string; readonly lockedBy: string }
    | { readonly status: 'failed'; readonly planetId: string; readonly error: ExoError };
  /** Planets viewed again, and those that could not be. */
  readonly viewing: readonly string[];
  readonly viewingFailed: readonly { readonly planetId: string; readonly error: ExoError }[];
}

export interface ExoClientEvents {
  state: ConnectionStateChange;
  presence: readonly PresenceUser[];
  selection: ReadonlyMap<string, SelectionView>;
  /** Our own lock: granted, renewed, moved, or lost (null). */
  lock: LockInfo | null;
  conflict: ConflictEvent;
  viewerCameras: ViewerCamerasEvent;
  camera: CameraRelayEvent;
  restored: RestoreReport;
  /** An error the server sent that answers no pending command (a refused camera, SESSION_REPLACED),
   * or a frame the client could not understand. */
  serverError: ExoError;
  change: RoomView;
}

export interface JoinResult {
  readonly resumeToken: string;
  readonly viewing: readonly string[];
  readonly lock: LockInfo | undefined;
}

export type SelectResult =
  | {
      readonly status: 'granted';
      readonly planetId: string;
      readonly expiresAt: number;
      readonly fence: number | undefined;
    }
  | {
      readonly status: 'conflict';
      readonly planetId: string;
      readonly lockedBy: string;
      readonly expiresAt: number;
    };
