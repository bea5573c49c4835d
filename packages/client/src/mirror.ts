// The local mirror of one room, what a UI renders from. Rules:
// - presence, selection_state and viewer_cameras carry a per-room `seq`; per message type, one lower
//   than the highest seen is stale and dropped. The seqs restart with every connection (a new
//   server process counts from scratch), the first messages after a join being a full snapshot;
// - `lock` is this user's own lock, set from the server's answers (select, join, heartbeat acks) and
//   cleared by an unselect or by a selection_state that no longer lists this user on that planet;
// - another user's lock expiry is known only from a `conflict`, and kept while that user still holds it;
// - cameras are kept per viewed planet: a viewer_cameras snapshot replaces the planet's, a relay
//   updates one user's; nothing is kept for a planet this user does not view. Only viewers get
//   snapshots, so one marks its planet viewed (it comes before the join_viewer's ack).

import type { CameraState, LockInfo, PresenceUser, SelectionStateMessage } from '@exo/protocol';

export interface SelectionView {
  readonly planetId: string;
  /** Who selected the planet: the lock holder in exclusive mode, everyone in shared mode. */
  readonly userIds: readonly string[];
  /** When the lock expires (server clock), when known: always for our own lock. */
  readonly expiresAt: number | undefined;
}

export interface RoomView {
  readonly roomId: string | null;
  readonly userId: string | null;
  readonly users: readonly PresenceUser[];
  readonly selections: ReadonlyMap<string, SelectionView>;
  readonly lock: LockInfo | null;
  readonly viewing: ReadonlySet<string>;
  /** planetId → userId → that viewer's last camera (never our own). */
  readonly cameras: ReadonlyMap<string, ReadonlyMap<string, CameraState>>;
}

type SeqType = 'presence' | 'selection_state' | 'viewer_cameras';

export class RoomMirror {
  private roomId: string | null = null;
  private userId: string | null = null;
  private users: readonly PresenceUser[] = [];
  private selected = new Map<string, readonly string[]>();
  private readonly learned = new Map<string, { readonly userId: string; readonly expiresAt: number }>();
  private lock: LockInfo | null = null;
  private readonly viewing = new Set<string>();
  private readonly cameras = new Map<string, Map<string, CameraState>>();
  private readonly seq = new Map<SeqType, number>();

  /** A new connection: its seqs start afresh. */
  resetSeq(): void {
    this.seq.clear();
  }

  /** A join's ack: the server's word on our lock and viewed planets replaces ours. */
  joined(roomId: string, userId: string, lock: LockInfo | undefined, viewing: readonly string[]): void {
    this.roomId = roomId;
    this.userId = userId;
    this.lock = lock ?? null;
    for (const planetId of [...this.viewing]) if (!viewing.includes(planetId)) this.removeViewing(planetId);
    for (const planetId of viewing) this.addViewing(planetId);
  }

  left(): void {
    this.roomId = null;
    this.userId = null;
    this.users = [];
    this.selected = new Map();
    this.learned.clear();
    this.lock = null;
    this.viewing.clear();
    this.cameras.clear();
  }

  applyPresence(users: readonly PresenceUser[], seq: number): boolean {
    if (!this.fresh('presence', seq)) return false;
    this.users = users;
    return true;
  }

  /** Applies a selection_state; returns null when stale, else whether our lock was lost by it. */
  applySelection(message: SelectionStateMessage): { readonly lockLost: boolean } | null {
    if (!this.fresh('selection_state', message.seq)) return null;
    this.selected = new Map(Object.entries(message.selected));
    for (const [planetId, known] of this.learned) {
      if (!this.selected.get(planetId)?.includes(known.userId)) this.learned.delete(planetId);
    }
    const lock = this.lock;
    const lockLost =
      lock !== null && this.userId !== null && !this.selected.get(lock.planetId)?.includes(this.userId);
    if (lockLost) this.lock = null;
    return { lockLost };
  }

  applyViewerCameras(planetId: string, cameras: Readonly<Record<string, CameraState>>, seq: number): boolean {
    if (!this.fresh('viewer_cameras', seq)) return false;
    this.viewing.add(planetId);
    this.cameras.set(planetId, new Map(Object.entries(cameras)));
    return true;
  }

  applyRelay(planetId: string, userId: string, camera: CameraState): boolean {
    const planet = this.cameras.get(planetId);
    if (planet === undefined) return false;
    planet.set(userId, camera);
    return true;
  }

  learnExpiry(planetId: string, userId: string, expiresAt: number): void {
    this.learned.set(planetId, { userId, expiresAt });
  }

  setLock(lock: LockInfo | null): void {
    this.lock = lock;
  }

  renewLock(expiresAt: number): void {
    if (this.lock !== null) this.lock = { ...this.lock, expiresAt };
  }

  addViewing(planetId: string): void {
    this.viewing.add(planetId);
    if (!this.cameras.has(planetId)) this.cameras.set(planetId, new Map());
  }

  removeViewing(planetId: string): void {
    this.viewing.delete(planetId);
    this.cameras.delete(planetId);
  }

  isViewing(planetId: string): boolean {
    return this.viewing.has(planetId);
  }

  viewingPlanets(): string[] {
    return [...this.viewing];
  }

  get currentLock(): LockInfo | null {
    return this.lock;
  }

  get currentUserId(): string | null {
    return this.userId;
  }

  view(): RoomView {
    const selections = new Map<string, SelectionView>();
    for (const [planetId, userIds] of this.selected) {
      selections.set(planetId, { planetId, userIds, expiresAt: this.expiryOf(planetId, userIds) });
    }
    return {
      roomId: this.roomId,
      userId: this.userId,
      users: this.users,
      selections,
      lock: this.lock,
      viewing: this.viewing,
      cameras: this.cameras,
    };
  }

  private expiryOf(planetId: string, userIds: readonly string[]): number | undefined {
    if (this.lock?.planetId === planetId) return this.lock.expiresAt;
    const known = this.learned.get(planetId);
    return known !== undefined && userIds.includes(known.userId) ? known.expiresAt : undefined;
  }

  private fresh(type: SeqType, seq: number): boolean {
    const last = this.seq.get(type);
    if (last !== undefined && seq < last) return false;
    this.seq.set(type, seq);
    return true;
  }
}
