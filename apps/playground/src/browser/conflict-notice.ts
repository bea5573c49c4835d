// The conflict notice: shown when a select finds the planet locked (or a reconnect finds it taken),
// naming the holder and the time left; it hides itself after a while or when told to.

import type { ConflictEvent } from '@exo/client';
import { formatTimeLeft } from './format.js';
import { planetName } from './planets.js';

const SHOWN_MS = 8000;

export class ConflictNotice {
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly element: HTMLElement) {}

  show(conflict: ConflictEvent, holderName: string, serverNow: number): void {
    const left =
      conflict.expiresAt > serverNow ? ` for another ${formatTimeLeft(conflict.expiresAt - serverNow)}` : '';
    const away = conflict.duringRestore ? ' It was taken while you were reconnecting.' : '';
    this.element.textContent = `${planetName(conflict.planetId)} is locked by ${holderName}${left}.${away}`;
    this.element.dataset.planet = conflict.planetId;
    this.element.hidden = false;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.hide(), SHOWN_MS);
  }

  hide(): void {
    this.element.hidden = true;
  }
}
