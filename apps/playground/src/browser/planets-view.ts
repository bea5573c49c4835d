// The planet cards: who holds each lock and the time left, with a Select / Release button. Cards are
// built once and updated in place (a re-render between a button's mousedown and mouseup would eat
// the click). Another user's time left is known only once a conflict told it (the lock is renewed
// by their heartbeats), so until then the card says who holds it.

import type { RoomView } from '@exo/client';
import { h } from './dom.js';
import { formatTimeLeft } from './format.js';
import { PLANETS } from './planets.js';

export interface PlanetActions {
  select(planetId: string): void;
  release(planetId: string): void;
}

export class PlanetsView {
  private readonly cards = new Map<
    string,
    { card: HTMLElement; lock: HTMLElement; button: HTMLButtonElement }
  >();

  constructor(list: HTMLElement, actions: PlanetActions) {
    for (const planet of PLANETS) {
      const lock = h('span', { class: 'lock' }, 'free');
      const button = h('button', { type: 'button' }, 'Select');
      const card = h(
        'li',
        { class: 'planet free', 'data-planet': planet.id, 'data-holder': '' },
        h('span', { class: 'orb', style: `background:${planet.color}` }),
        h('strong', {}, planet.name),
        lock,
        button,
      );
      button.addEventListener('click', () => {
        if (card.classList.contains('mine')) actions.release(planet.id);
        else actions.select(planet.id);
      });
      this.cards.set(planet.id, { card, lock, button });
      list.append(card);
    }
  }

  update(room: RoomView, names: ReadonlyMap<string, string>, serverNow: number): void {
    for (const [planetId, { card, lock, button }] of this.cards) {
      const selection = room.selections.get(planetId);
      const holder = selection?.userIds[0];
      const mine = holder !== undefined && holder === room.userId;
      const left =
        selection?.expiresAt !== undefined && selection.expiresAt > serverNow
          ? ` · ${formatTimeLeft(selection.expiresAt - serverNow)} left`
          : '';
      card.className = `planet ${holder === undefined ? 'free' : mine ? 'mine' : 'locked'}`;
      card.dataset.holder = holder ?? '';
      lock.textContent =
        holder === undefined
          ? 'free'
          : mine
            ? `locked by you${left}`
            : `locked by ${names.get(holder) ?? holder}${left}`;
      button.textContent = mine ? 'Release' : 'Select';
      button.disabled = room.userId === null;
    }
  }
}
