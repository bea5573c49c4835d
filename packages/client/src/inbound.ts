// What the server's messages do on the client. Rules: state messages update the mirror (stale
// seqs dropped there) and emit their event, then `change`; an ack, conflict or error settles the
// command whose rid it echoes, after applying what that answer changes locally (our lock, viewed
// planets, the session), so a promise settles on a mirror that already shows its effect; an error
// that answers nothing (a refused camera, SESSION_REPLACED before a 4001) and an undecodable frame
// are reported as `serverError`; an undecodable answer also rejects its command, which would
// otherwise wait forever.

import type { AckMessage, ConflictMessage, ErrorMessage, LockInfo, UserProfile } from '@exo/protocol';
import type { CameraCoalescer } from './camera-coalescer.js';
import { decode, isFailure } from './decode.js';
import type { Emitter } from './emitter.js';
import { ExoError } from './errors.js';
import type { ExoClientEvents } from './events.js';
import type { Heartbeat } from './heartbeat.js';
import type { Intent } from './intent.js';
import type { RoomMirror } from './mirror.js';
import type { Request, RequestQueue } from './requests.js';
import type { Scheduler } from './scheduler.js';

export interface InboundContext {
  readonly mirror: RoomMirror;
  readonly events: Emitter<ExoClientEvents>;
  readonly queue: RequestQueue;
  readonly cameras: CameraCoalescer;
  readonly heartbeat: Heartbeat;
  readonly intent: Intent;
  readonly scheduler: Scheduler;
  /** A join was answered: sockets given up before it are no longer needed. */
  closeStale(): void;
}

export class Inbound {
  /** Server clock minus ours, from the last heartbeat's round trip. */
  clockOffsetMs = 0;

  constructor(private readonly c: InboundContext) {}

  received(data: unknown): void {
    const { mirror, events } = this.c;
    this.c.heartbeat.received();
    const message = decode(data);
    if (isFailure(message)) {
      const request = this.c.queue.take(message.rid);
      if (request !== undefined) this.c.queue.failed(request, message.error);
      return events.emit('serverError', message.error);
    }
    switch (message.type) {
      case 'presence':
        if (!mirror.applyPresence(message.users, message.seq)) return;
        events.emit('presence', message.users);
        return this.changed();
      case 'selection_state': {
        const applied = mirror.applySelection(message);
        if (applied === null) return;
        if (applied.lockLost) {
          this.c.intent.selection = null;
          events.emit('lock', null);
        }
        events.emit('selection', mirror.view().selections);
        return this.changed();
      }
      case 'viewer_cameras': {
        const { planetId, cameras, seq } = message;
        if (!mirror.applyViewerCameras(planetId, cameras, seq)) return;
        events.emit('viewerCameras', { planetId, cameras: mirror.view().cameras.get(planetId)! });
        return this.changed();
      }
      case 'camera': {
        const { planetId, userId, camera } = message;
        if (!mirror.applyRelay(planetId, userId, camera)) return;
        events.emit('camera', { planetId, userId, camera });
        return this.changed();
      }
      case 'conflict':
        return this.onConflict(message);
      case 'ack':
        return this.onAck(message);
      case 'error':
        return this.onError(message);
      default:
        return assertNever(message);
    }
  }

  private onAck(ack: AckMessage): void {
    const request = this.c.queue.take(ack.rid);
    if (request === undefined) return;
    this.applyAck(request, ack);
    this.c.queue.answered(request, ack);
  }

  private onConflict(conflict: ConflictMessage): void {
    const request = this.c.queue.take(conflict.rid);
    const { planetId, lockedBy, expiresAt } = conflict;
    this.c.mirror.learnExpiry(planetId, lockedBy, expiresAt);
    const duringRestore = request?.restore === true;
    if (duringRestore) this.c.intent.selection = null;
    this.c.events.emit('conflict', { planetId, lockedBy, expiresAt, duringRestore });
    this.changed();
    if (request !== undefined) this.c.queue.answered(request, conflict);
  }

  private onError(error: ErrorMessage): void {
    const request = this.c.queue.take(error.rid);
    if (request === undefined) return this.c.events.emit('serverError', ExoError.fromMessage(error));
    this.c.queue.refused(request, error);
  }

  private applyAck(request: Request, ack: AckMessage): void {
    const { mirror, intent, cameras } = this.c;
    const command = request.command;
    switch (command.type) {
      case 'join':
        return this.joined(command.roomId, command.user, ack, request.restore);
      case 'leave':
        intent.left();
        cameras.clear();
        this.c.heartbeat.stop();
        mirror.left();
        this.c.events.emit('lock', null);
        return this.changed();
      case 'select':
        intent.selection = command.planetId;
        return this.lockChanged({
          planetId: command.planetId,
          expiresAt: ack.expiresAt ?? 0,
          ...(ack.fence === undefined ? {} : { fence: ack.fence }),
        });
      case 'unselect':
        if (intent.selection === command.planetId) intent.selection = null;
        if (mirror.currentLock?.planetId === command.planetId) this.lockChanged(null);
        return;
      case 'join_viewer':
        intent.viewers.add(command.planetId);
        mirror.addViewing(command.planetId);
        cameras.resend(command.planetId);
        return this.changed();
      case 'leave_viewer':
        intent.viewers.delete(command.planetId);
        mirror.removeViewing(command.planetId);
        cameras.forget(command.planetId);
        return this.changed();
      case 'heartbeat':
        if (ack.serverTs !== undefined) {
          this.clockOffsetMs = ack.serverTs - (command.ts + this.c.scheduler.now()) / 2;
        }
        if (ack.expiresAt !== undefined && mirror.currentLock !== null) {
          mirror.renewLock(ack.expiresAt);
          this.c.events.emit('lock', mirror.currentLock);
          this.changed();
        }
        return;
      default:
        return assertNever(command);
    }
  }

  private joined(roomId: string, user: UserProfile, ack: AckMessage, restore: boolean): void {
    const { intent } = this.c;
    intent.session = { roomId, user, resumeToken: ack.resumeToken ?? '' };
    const viewing = ack.viewing ?? [];
    if (restore) {
      // Keep what was wanted before the drop: the restore is about to ask for what is missing.
      for (const planetId of viewing) intent.viewers.add(planetId);
      if (ack.lock !== undefined) intent.selection = ack.lock.planetId;
    } else {
      intent.viewers.clear();
      for (const planetId of viewing) intent.viewers.add(planetId);
      intent.selection = ack.lock?.planetId ?? null;
    }
    this.c.mirror.joined(roomId, user.userId, ack.lock, viewing);
    this.c.closeStale();
    this.c.heartbeat.start();
    this.c.events.emit('lock', this.c.mirror.currentLock);
    this.changed();
  }

  private lockChanged(lock: LockInfo | null): void {
    this.c.mirror.setLock(lock);
    this.c.events.emit('lock', lock);
    this.changed();
  }

  private changed(): void {
    this.c.events.emit('change', this.c.mirror.view());
  }
}

function assertNever(value: never): never {
  throw new Error(`unhandled: ${JSON.stringify(value)}`);
}
