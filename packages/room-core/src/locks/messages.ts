// `selection_state`: only planets with a selector, keys in planetId order, selectors in the order
// they selected. The map is prototype-free so `__proto__` is an ordinary planet id.

import type { SelectionStateMessage } from '@exo/protocol';
import { compareIds } from '../order.js';
import type { Room } from '../state.js';

export function selectionMessage(room: Room): SelectionStateMessage {
  const selected: Record<string, string[]> = Object.create(null);
  for (const planetId of [...room.selected.keys()].sort(compareIds)) {
    selected[planetId] = [...room.selected.get(planetId)!];
  }
  return { type: 'selection_state', selected, seq: room.seq };
}
