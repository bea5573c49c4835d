// The camera panel: a top-down view of the viewed planet with a dot per viewer's camera and a line
// to where it looks; this window's camera is the one you drag. Below it, every camera's position in
// words (data-x / data-z carry the numbers), which is also what the browser test reads.

import type { CameraState, RoomView } from '@exo/client';
import { h } from './dom.js';
import { EXTENT, formatPosition, toCanvas, toWorld } from './format.js';
import { planetName } from './planets.js';
import { colorFor } from './settings.js';

export interface OwnCamera {
  readonly userId: string;
  readonly color: string;
  readonly x: number;
  readonly z: number;
}

interface Marker {
  readonly userId: string;
  readonly label: string;
  readonly color: string;
  readonly x: number;
  readonly z: number;
  readonly target: readonly [number, number, number];
  readonly own: boolean;
}

export class CameraPanel {
  private dragging = false;

  constructor(
    private readonly canvas: HTMLCanvasElement,
    private readonly list: HTMLElement,
    onMove: (x: number, z: number) => void,
  ) {
    const move = (event: PointerEvent) => {
      const rect = canvas.getBoundingClientRect();
      const { x, z } = toWorld(
        ((event.clientX - rect.left) / rect.width) * canvas.width,
        ((event.clientY - rect.top) / rect.height) * canvas.height,
        canvas.width,
      );
      onMove(x, z);
    };
    canvas.addEventListener('pointerdown', (event) => {
      this.dragging = true;
      canvas.setPointerCapture(event.pointerId);
      move(event);
    });
    canvas.addEventListener('pointermove', (event) => {
      if (this.dragging) move(event);
    });
    const stop = () => {
      this.dragging = false;
    };
    canvas.addEventListener('pointerup', stop);
    canvas.addEventListener('pointercancel', stop);
  }

  render(room: RoomView, planetId: string, own: OwnCamera | null, names: ReadonlyMap<string, string>): void {
    const markers = this.markers(room, planetId, own, names);
    this.draw(planetId, markers);
    this.list.replaceChildren(
      ...markers.map((m) =>
        h(
          'li',
          { 'data-user': m.userId, 'data-x': String(m.x), 'data-z': String(m.z) },
          h('span', { class: 'dot', style: `background:${m.color}` }),
          `${m.label}${m.own ? ' (you)' : ''}: ${formatPosition(m.x, m.z)}`,
        ),
      ),
    );
  }

  private markers(
    room: RoomView,
    planetId: string,
    own: OwnCamera | null,
    names: ReadonlyMap<string, string>,
  ) {
    const colors = new Map(room.users.map((u) => [u.userId, u.color ?? colorFor(u.userId)]));
    const markers: Marker[] = [];
    if (own !== null) {
      const label = names.get(own.userId) ?? own.userId;
      markers.push({ ...own, label, target: [0, 0, 0], own: true });
    }
    for (const [userId, camera] of room.cameras.get(planetId) ?? new Map<string, CameraState>()) {
      const [x, , z] = camera.position;
      const color = colors.get(userId) ?? colorFor(userId);
      const label = names.get(userId) ?? userId;
      markers.push({ userId, label, color, x, z, target: camera.target ?? [0, 0, 0], own: false });
    }
    return markers;
  }

  private draw(planetId: string, markers: readonly Marker[]): void {
    const ctx = this.canvas.getContext('2d');
    if (ctx === null) return;
    const size = this.canvas.width;
    ctx.fillStyle = '#0b1021';
    ctx.fillRect(0, 0, size, size);
    ctx.strokeStyle = '#1d2747';
    for (let i = -EXTENT; i <= EXTENT; i += 2) {
      const { px } = toCanvas(i, 0, size);
      ctx.beginPath();
      ctx.moveTo(px, 0);
      ctx.lineTo(px, size);
      ctx.moveTo(0, px);
      ctx.lineTo(size, px);
      ctx.stroke();
    }
    const center = toCanvas(0, 0, size);
    ctx.fillStyle = '#4f86c6';
    ctx.beginPath();
    ctx.arc(center.px, center.py, size / 14, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillStyle = '#cfd8ef';
    ctx.font = '12px system-ui, sans-serif';
    ctx.textAlign = 'center';
    ctx.fillText(planetName(planetId), center.px, center.py + size / 14 + 14);
    for (const marker of markers) this.drawMarker(ctx, marker, size);
  }

  private drawMarker(ctx: CanvasRenderingContext2D, marker: Marker, size: number): void {
    const at = toCanvas(marker.x, marker.z, size);
    const to = toCanvas(marker.target[0], marker.target[2], size);
    ctx.strokeStyle = marker.color;
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(at.px, at.py);
    ctx.lineTo(at.px + (to.px - at.px) * 0.35, at.py + (to.py - at.py) * 0.35);
    ctx.stroke();
    ctx.fillStyle = marker.color;
    ctx.beginPath();
    ctx.arc(at.px, at.py, marker.own ? 9 : 7, 0, Math.PI * 2);
    ctx.fill();
    if (marker.own) {
      ctx.strokeStyle = '#ffffff';
      ctx.stroke();
    }
    ctx.fillStyle = '#ffffff';
    ctx.textAlign = 'left';
    ctx.fillText(marker.label, at.px + 12, at.py + 4);
  }
}
