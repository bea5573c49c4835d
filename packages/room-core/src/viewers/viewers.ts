// Viewers and cameras (CONTRACT §6). A member views at most maxViewedPlanets planets; joining
// as a viewer answers a snapshot of the other viewers' last cameras. A camera from a viewer is
// stored as its last camera and relayed to the planet's other viewers, throttled per (user,
// planet) to one relay per cameraMinIntervalMs: the first camera after a quiet interval goes at
// once, later ones inside the interval are coalesced and the latest goes when it ends, so the
// final camera is never lost. Camera frames over the per-connection camera rate are coalesced the
// same way, held until the rate allows. A viewer that stops viewing has its pending relay
// cancelled and, if it had sent a camera, the remaining viewers get a snapshot without it.

import type { CameraMessage, JoinViewerMessage, LeaveViewerMessage } from '@exo/protocol';
import { ack, fail } from '../answers.js';
import { getOrCreate } from '../collections.js';
import { armCamera } from '../deadline.js';
import { connsOf, type Out } from '../out.js';
import { type CoreState, type Member, NOT_ARMED, type ViewState } from '../state.js';

export function joinViewer(state: CoreState, member: Member, msg: JoinViewerMessage, out: Out): void {
  const conn = member.conn!;
  const { room } = member;
  const { planetId } = msg;
  if (!member.viewing.has(planetId)) {
    if (member.viewing.size >= state.config.maxViewedPlanets) {
      const text = `${msg.userId} already views ${state.config.maxViewedPlanets} planets; leave_viewer one first`;
      out.reply(conn, fail('join_viewer', 'LIMIT_EXCEEDED', text, msg.rid));
      return;
    }
    const view: ViewState = {
      planetId,
      camera: null,
      cameraAt: null,
      lastRelayAt: Number.NEGATIVE_INFINITY,
      pending: null,
      armedAt: NOT_ARMED,
    };
    member.viewing.set(planetId, view);
    getOrCreate(room.viewers, planetId, () => new Map<string, Member>()).set(member.userId, member);
    out.touch(room);
  }
  out.snapshotTo(room, planetId, conn);
  out.reply(conn, ack('join_viewer', msg.rid));
}

export function leaveViewer(member: Member, msg: LeaveViewerMessage, out: Out): void {
  if (!member.viewing.has(msg.planetId)) {
    out.reply(
      member.conn!,
      fail('leave_viewer', 'NOT_VIEWING', `${msg.userId} does not view ${msg.planetId}`, msg.rid),
    );
    return;
  }
  dropView(member, msg.planetId, out);
  out.reply(member.conn!, ack('leave_viewer', msg.rid));
}

/** Stops the member viewing the planet: pending relay cancelled, others told if it had a camera. */
export function dropView(member: Member, planetId: string, out: Out): void {
  const view = member.viewing.get(planetId);
  if (view === undefined) return;
  const { room } = member;
  member.viewing.delete(planetId);
  view.pending = null;
  view.armedAt = NOT_ARMED;
  const viewers = room.viewers.get(planetId);
  viewers?.delete(member.userId);
  if (viewers === undefined || viewers.size === 0) {
    room.viewers.delete(planetId);
  } else if (view.camera !== null) {
    for (const other of viewers.values()) if (other.conn !== null) out.snapshotTo(room, planetId, other.conn);
  }
  out.touch(room);
}

/**
 * A camera from a bound member. `rateWait` is how long the connection's camera budget asks it to
 * wait (0: within the rate). Out-of-rate cameras that are not valid are dropped without an answer.
 */
export function camera(
  state: CoreState,
  member: Member,
  msg: CameraMessage,
  rateWait: number,
  out: Out,
): void {
  const view = member.viewing.get(msg.planetId);
  if (view === undefined) {
    if (rateWait === 0) {
      out.reply(
        member.conn!,
        fail('camera', 'NOT_VIEWING', `${msg.userId} does not view ${msg.planetId}`, msg.rid),
      );
    }
    return;
  }
  view.camera = msg.camera;
  view.cameraAt = state.now;
  const slot = view.lastRelayAt + state.config.cameraMinIntervalMs;
  if (rateWait === 0 && view.pending === null && state.now >= slot) {
    relay(member, view, msg.camera, out);
    view.lastRelayAt = state.now;
    return;
  }
  view.pending = msg.camera;
  if (view.armedAt === NOT_ARMED) armCamera(state, member, view, Math.max(slot, state.now + rateWait));
}

/** A coalesced camera's interval ended: relay the latest one. */
export function cameraDue(state: CoreState, member: Member, view: ViewState, out: Out): void {
  const pending = view.pending;
  view.armedAt = NOT_ARMED;
  if (pending === null) return;
  view.pending = null;
  relay(member, view, pending, out);
  view.lastRelayAt = state.now;
}

function relay(member: Member, view: ViewState, camera: CameraMessage['camera'], out: Out): void {
  const viewers = member.room.viewers.get(view.planetId);
  if (viewers === undefined) return;
  out.send(connsOf(viewers.values(), member), {
    type: 'camera',
    planetId: view.planetId,
    camera,
    userId: member.userId,
  });
}
