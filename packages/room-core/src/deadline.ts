// Deadlines: lock expiry, presence expiry, grace end, a coalesced camera relay, the join timeout
// and credential expiry. One heap holds them all, so the shell keeps a single timer armed at
// `nextDeadline(state)`. Entries are armed lazily: renewing a lock or seeing a user again does
// not touch the heap; when an entry comes due and its holder's real deadline has moved on, it is
// re-armed there. Each holder remembers which entry is armed for it (the entry's insertion number:
// two entries of one holder may share a time), so a superseded entry is dropped, whether or not
// `nextDeadline` has already discarded it; reading the next deadline never changes what a step does.
// Deadlines due at one time are applied in one step, in the order camera relays, lock expiries,
// grace ends, presence expiries (then join timeouts and credential expiries, which the contract
// leaves unordered).

import type { Effect } from './effects.js';
import type { HeapEntry } from './heap.js';
import { Out } from './out.js';
import type { Conn, CoreState, Member, Selection, ViewState } from './state.js';

export type Deadline =
  | (HeapEntry & { readonly kind: 'camera'; readonly member: Member; readonly view: ViewState })
  | (HeapEntry & { readonly kind: 'lock'; readonly member: Member; readonly selection: Selection })
  | (HeapEntry & { readonly kind: 'grace' | 'presence'; readonly member: Member })
  | (HeapEntry & { readonly kind: 'join' | 'auth'; readonly conn: Conn });

export type DeadlineKind = Deadline['kind'];

const PRIORITY: Readonly<Record<DeadlineKind, number>> = {
  camera: 0,
  lock: 1,
  grace: 2,
  presence: 3,
  join: 4,
  auth: 5,
};

/** What each kind of deadline does when it comes due; installed by `step` to avoid import cycles. */
export type DueHandler = (state: CoreState, deadline: Deadline, out: Out) => void;

export function armCamera(state: CoreState, member: Member, view: ViewState, at: number): void {
  view.armedAt = push(state, { kind: 'camera', at, priority: PRIORITY.camera, order: 0, member, view });
}

export function armLock(state: CoreState, member: Member, selection: Selection): void {
  const at = selection.expiresAt;
  selection.armedAt = push(state, { kind: 'lock', at, priority: PRIORITY.lock, order: 0, member, selection });
}

export function armGrace(state: CoreState, member: Member, at: number): void {
  member.graceArmedAt = push(state, { kind: 'grace', at, priority: PRIORITY.grace, order: 0, member });
}

export function armPresence(state: CoreState, member: Member): void {
  const at = member.lastSeen + state.config.presenceTimeoutMs;
  member.presenceArmedAt = push(state, {
    kind: 'presence',
    at,
    priority: PRIORITY.presence,
    order: 0,
    member,
  });
}

export function armJoinTimeout(state: CoreState, conn: Conn): void {
  const at = conn.unboundSince + state.config.joinTimeoutMs;
  conn.joinArmedAt = push(state, { kind: 'join', at, priority: PRIORITY.join, order: 0, conn });
}

/** Queues an entry; returns its insertion number, unique for the heap's life. */
function push(state: CoreState, entry: Deadline): number {
  state.deadlines.push(entry);
  return entry.order;
}

export function armAuthExpiry(state: CoreState, conn: Conn, at: number): void {
  state.deadlines.push({ kind: 'auth', at, priority: PRIORITY.auth, order: 0, conn });
}

function present(state: CoreState, member: Member): boolean {
  return state.rooms.get(member.room.id) === member.room && member.room.members.get(member.userId) === member;
}

/** Whether an entry still speaks for its holder's current deadline. */
export function isLive(state: CoreState, d: Deadline): boolean {
  switch (d.kind) {
    case 'camera':
      return (
        present(state, d.member) &&
        d.member.viewing.get(d.view.planetId) === d.view &&
        d.view.armedAt === d.order
      );
    case 'lock':
      return (
        present(state, d.member) && d.member.selection === d.selection && d.selection.armedAt === d.order
      );
    case 'grace':
      return present(state, d.member) && d.member.conn === null && d.member.graceArmedAt === d.order;
    case 'presence':
      return present(state, d.member) && d.member.conn !== null && d.member.presenceArmedAt === d.order;
    case 'join':
      return (
        state.conns.get(d.conn.id) === d.conn && d.conn.member === null && d.conn.joinArmedAt === d.order
      );
    case 'auth':
      return state.conns.get(d.conn.id) === d.conn;
    default:
      return unreachable(d);
  }
}

/** When the shell must tick next, or null when nothing is pending. Drops superseded entries. */
export function nextDeadline(state: CoreState): number | null {
  for (;;) {
    const top = state.deadlines.peek();
    if (top === undefined) return null;
    if (isLive(state, top)) return top.at;
    state.deadlines.pop();
  }
}

/** Applies every deadline due at or before `until`, one step per distinct due time. */
export function applyDue(state: CoreState, until: number, onDue: DueHandler, effects: Effect[]): void {
  for (;;) {
    const first = state.deadlines.peek();
    if (first === undefined || first.at > until) break;
    const at = first.at;
    if (at > state.now) state.now = at;
    const out = new Out();
    for (let top = state.deadlines.peek(); top !== undefined && top.at === at; top = state.deadlines.peek()) {
      state.deadlines.pop();
      if (isLive(state, top)) onDue(state, top, out);
    }
    out.flush(state, effects);
  }
  if (until > state.now) state.now = until;
}

export function unreachable(value: never): never {
  throw new Error(`unreachable: ${JSON.stringify(value)}`);
}
