// Selections and locks (CONTRACT §5). A member selects at most one planet. In exclusive mode the
// first selector holds the planet's lock and others get `conflict`; a grant's fence is
// max(now × 1000, last fence + 1), so fences only grow, also across the room's re-creation; a
// renewal keeps it. A lock is held while now < expiresAt, expiresAt being the grant or last
// renewal (select or heartbeat by the holder) + lockTtlMs. In shared mode every selector is listed,
// with the same one-selection rule, TTL and renewal, and neither conflicts nor fences.

import type { SelectMessage, UnselectMessage } from '@exo/protocol';
import { ack, fail } from '../answers.js';
import { getOrCreate } from '../collections.js';
import { armLock } from '../deadline.js';
import type { Out } from '../out.js';
import { type CoreState, fenceKey, type Member, NOT_ARMED, type Selection } from '../state.js';

export function select(state: CoreState, member: Member, msg: SelectMessage, out: Out): void {
  const { room } = member;
  const { planetId } = msg;
  const current = member.selection;
  if (current !== null && current.planetId === planetId) {
    renew(state, member);
    out.reply(member.conn!, ack('select', msg.rid, grantExtras(current)));
    return;
  }
  const exclusive = state.config.selectionMode === 'exclusive';
  if (exclusive) {
    const holderId = firstOf(room.selected.get(planetId));
    const holder = holderId === undefined ? undefined : room.members.get(holderId);
    if (holder?.selection != null) {
      const conflict = {
        type: 'conflict' as const,
        planetId,
        lockedBy: holder.userId,
        reason: 'locked' as const,
        expiresAt: holder.selection.expiresAt,
      };
      out.reply(member.conn!, msg.rid === undefined ? conflict : { ...conflict, rid: msg.rid });
      return;
    }
  }
  releaseSelection(member, out);
  let fence: number | null = null;
  if (exclusive) {
    const last = room.lastFence.get(planetId) ?? state.retiredFences.get(fenceKey(room.id, planetId)) ?? 0;
    fence = Math.max(state.now * 1000, last + 1);
    room.lastFence.set(planetId, fence);
  }
  const selection: Selection = {
    planetId,
    expiresAt: state.now + state.config.lockTtlMs,
    fence,
    armedAt: NOT_ARMED,
  };
  member.selection = selection;
  getOrCreate(room.selected, planetId, () => new Set<string>()).add(member.userId);
  armLock(state, member, selection);
  out.touch(room);
  out.selectionTo(room, 'all');
  out.reply(member.conn!, ack('select', msg.rid, grantExtras(selection)));
}

export function unselect(member: Member, msg: UnselectMessage, out: Out): void {
  if (member.selection?.planetId !== msg.planetId) {
    out.reply(
      member.conn!,
      fail('unselect', 'NOT_SELECTED', `${msg.userId} has not selected ${msg.planetId}`, msg.rid),
    );
    return;
  }
  releaseSelection(member, out);
  out.reply(member.conn!, ack('unselect', msg.rid));
}

/** Extends the member's selection, if any, to now + lockTtlMs; the heap entry re-arms lazily. */
export function renew(state: CoreState, member: Member): void {
  if (member.selection !== null) member.selection.expiresAt = state.now + state.config.lockTtlMs;
}

export function releaseSelection(member: Member, out: Out): void {
  const selection = member.selection;
  if (selection === null) return;
  member.selection = null;
  const { room } = member;
  const selectors = room.selected.get(selection.planetId);
  selectors?.delete(member.userId);
  if (selectors?.size === 0) room.selected.delete(selection.planetId);
  out.touch(room);
  out.selectionTo(room, 'all');
}

/** A lock's deadline came due: expire it, or re-arm it where renewals moved it. */
export function lockDue(state: CoreState, member: Member, selection: Selection, out: Out): void {
  if (selection.expiresAt > state.now) armLock(state, member, selection);
  else releaseSelection(member, out);
}

export function grantExtras(selection: Selection): { expiresAt: number; fence?: number } {
  return selection.fence === null
    ? { expiresAt: selection.expiresAt }
    : { expiresAt: selection.expiresAt, fence: selection.fence };
}

function firstOf<T>(set: Set<T> | undefined): T | undefined {
  if (set === undefined) return undefined;
  for (const value of set) return value;
  return undefined;
}
