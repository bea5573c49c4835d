// The playground page: connects to a daemon with @exo/client and shows the room — who is present,
// the planets with who holds each lock and the time left, conflicts, and a camera panel where your
// camera is dragged and everyone else's moves as they drag theirs. Everything shown is rendered from
// the client's mirror (`client.room`) on its `change` event; the page keeps only its own camera.
// The resume token is kept per tab (sessionStorage), so a reload takes the session back even while
// the server still holds it.

import { type ConnectionStateChange, ExoClient, ExoError } from '@exo/client';
import { CameraPanel } from './camera-panel.js';
import { ConflictNotice } from './conflict-notice.js';
import { byId } from './dom.js';
import { PLANETS } from './planets.js';
import { PlanetsView } from './planets-view.js';
import { namesOf, renderPresence } from './presence-view.js';
import { readSettings, type Settings } from './settings.js';

const defaultUrl =
  document.querySelector<HTMLMetaElement>('meta[name="exo-default-url"]')?.content || 'ws://localhost:8080';
let settings = readSettings(location.search, defaultUrl, Math.random);

const form = byId<HTMLFormElement>('connect-form');
const status = byId('status');
const message = byId('message');
const cameraSelect = byId<HTMLSelectElement>('camera-planet');
const notice = new ConflictNotice(byId('conflict'));

let client: ExoClient | null = null;
let viewPlanet = PLANETS[0]!.id;
let own = startingPosition(settings.userId);

const planets = new PlanetsView(byId('planets'), {
  select: (planetId) => void select(planetId),
  release: (planetId) => void client?.unselect(planetId).catch(report),
});
const panel = new CameraPanel(byId<HTMLCanvasElement>('camera-canvas'), byId('cameras'), (x, z) => {
  own = { x, z };
  sendOwnCamera();
  render();
});

for (const planet of PLANETS) cameraSelect.append(new Option(planet.name, planet.id));
cameraSelect.addEventListener('change', () => void viewOther(cameraSelect.value));
fillForm(settings);
form.addEventListener('submit', (event) => {
  event.preventDefault();
  settings = readForm();
  history.replaceState(null, '', `?${new URLSearchParams(queryOf(settings))}`);
  own = startingPosition(settings.userId);
  void start(settings);
});
setInterval(render, 1000);
render();
if (settings.autoConnect) void start(settings);

async function start(next: Settings): Promise<void> {
  const previous = client;
  client = null;
  await previous?.close();
  const tokenKey = `exo-resume:${next.roomId}:${next.userId}`;
  const resumeToken = sessionStorage.getItem(tokenKey) ?? undefined;
  const c = new ExoClient({ url: next.serverUrl, ...(resumeToken === undefined ? {} : { resumeToken }) });
  client = c;
  c.on('state', showState);
  c.on('change', scheduleRender);
  c.on('conflict', (conflict) => {
    notice.show(conflict, namesOf(c.room).get(conflict.lockedBy) ?? conflict.lockedBy, c.serverNow());
  });
  c.on('serverError', report);
  try {
    await c.connect();
    const joined = await c.join(next.roomId, { userId: next.userId, name: next.name, color: next.color });
    sessionStorage.setItem(tokenKey, joined.resumeToken);
    c.on('restored', () => {
      if (c.resumeToken !== null) sessionStorage.setItem(tokenKey, c.resumeToken);
    });
    await c.joinViewer(viewPlanet);
    sendOwnCamera();
  } catch (err) {
    report(err);
  }
  render();
}

async function select(planetId: string): Promise<void> {
  if (client === null) return;
  try {
    const result = await client.select(planetId);
    if (result.status === 'granted') notice.hide();
  } catch (err) {
    report(err);
  }
}

async function viewOther(planetId: string): Promise<void> {
  const c = client;
  const previous = viewPlanet;
  viewPlanet = planetId;
  render();
  if (c === null || c.room.userId === null) return;
  try {
    await c.leaveViewer(previous);
    await c.joinViewer(planetId);
    sendOwnCamera();
  } catch (err) {
    report(err);
  }
}

function sendOwnCamera(): void {
  if (client?.room.viewing.has(viewPlanet)) {
    client.sendCamera(viewPlanet, { position: [own.x, 4, own.z], target: [0, 0, 0], fov: 50 });
  }
}

let renderQueued = false;
function scheduleRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  setTimeout(() => {
    renderQueued = false;
    render();
  }, 0);
}

function render(): void {
  const room = client?.room;
  if (room === undefined) return;
  const names = namesOf(room);
  renderPresence(byId('presence'), room);
  planets.update(room, names, client!.serverNow());
  const self = room.userId === null ? null : { userId: room.userId, color: settings.color, ...own };
  panel.render(room, viewPlanet, self, names);
}

function showState(change: ConnectionStateChange): void {
  status.dataset.state = change.state;
  const detail =
    change.state === 'reconnecting'
      ? ` (attempt ${change.attempt}, in ${((change.retryInMs ?? 0) / 1000).toFixed(1)} s)`
      : change.error !== undefined
        ? `: ${change.error.code}`
        : '';
  status.textContent = `${change.state}${detail}`;
  if (change.error !== undefined) report(change.error);
  render();
}

function report(err: unknown): void {
  message.textContent = err instanceof ExoError ? `${err.code}: ${err.message}` : String(err);
  message.hidden = false;
}

function startingPosition(userId: string): { x: number; z: number } {
  let hash = 7;
  for (const char of userId) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  const angle = ((hash % 360) * Math.PI) / 180;
  return { x: Math.round(Math.cos(angle) * 60) / 10, z: Math.round(Math.sin(angle) * 60) / 10 };
}

function fillForm(s: Settings): void {
  for (const [name, value] of Object.entries(queryOf(s))) {
    const input = form.elements.namedItem(name);
    if (input instanceof HTMLInputElement) input.value = value;
  }
}

function readForm(): Settings {
  const data = new FormData(form);
  const get = (name: string) => String(data.get(name) ?? '');
  return readSettings(
    new URLSearchParams({
      server: get('server'),
      room: get('room'),
      user: get('user'),
      name: get('name'),
      color: get('color'),
    }).toString(),
    defaultUrl,
    Math.random,
  );
}

function queryOf(s: Settings): Record<string, string> {
  return { server: s.serverUrl, room: s.roomId, user: s.userId, name: s.name, color: s.color };
}
