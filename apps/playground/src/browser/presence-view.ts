// Who is in the room: one line per user in the server's order (by join time), with their color,
// "(you)" for this window's user, and "reconnecting" while the server holds a user in its grace.

import type { RoomView } from '@exo/client';
import { h } from './dom.js';
import { colorFor } from './settings.js';

export function renderPresence(list: HTMLElement, room: RoomView): void {
  list.replaceChildren(
    ...room.users.map((user) =>
      h(
        'li',
        { 'data-user': user.userId, class: user.connected ? 'user' : 'user away' },
        h('span', { class: 'dot', style: `background:${user.color ?? colorFor(user.userId)}` }),
        user.name ?? user.userId,
        user.userId === room.userId && h('span', { class: 'you' }, ' (you)'),
        !user.connected && h('span', { class: 'away-note' }, ' reconnecting…'),
      ),
    ),
  );
}

/** userId → display name, for the other views. */
export function namesOf(room: RoomView): Map<string, string> {
  return new Map(room.users.map((u) => [u.userId, u.name ?? u.userId]));
}
