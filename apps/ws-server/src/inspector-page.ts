// GET /inspector: one self-contained HTML page (no bundler, no external resource) that shows what
// GET /rooms and GET /rooms/:id answer and polls them every second. Rules:
// - the page holds no data and needs no credential to load; it sends the ADMIN_TOKEN as a Bearer
//   header with each request. The token comes from the URL fragment (`#token=…&room=…`, never sent
//   to a server or logged) or the form, is kept in sessionStorage, and is dropped from the address bar;
// - every value from the server is written with textContent, never as HTML;
// - a Content-Security-Policy allows only this page's own script and style (by hash) and requests
//   to its own origin.

import { createHash } from 'node:crypto';

const STYLE = `
:root { color-scheme: dark; --bg:#0b1020; --panel:#141a2e; --line:#26304d; --text:#e6e9f2; --dim:#8b93ad; --accent:#7aa2ff; --ok:#4fd18b; --warn:#ffb454; }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; background: var(--bg); color: var(--text); }
header { display: flex; align-items: center; gap: 16px; padding: 12px 20px; border-bottom: 1px solid var(--line); }
header h1 { font-size: 16px; margin: 0; font-weight: 600; }
#status { color: var(--dim); margin-left: auto; font-variant-numeric: tabular-nums; }
#status.error { color: var(--warn); }
main { display: grid; grid-template-columns: 300px 1fr; gap: 16px; padding: 16px 20px; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
h2 { font-size: 13px; text-transform: uppercase; letter-spacing: .06em; color: var(--dim); margin: 4px 0 10px; }
table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); }
th { color: var(--dim); font-weight: 500; font-size: 12px; }
tr.room { cursor: pointer; }
tr.room:hover, tr.room.selected { background: #1d2745; }
.dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 6px; background: var(--dim); }
.dot.on { background: var(--ok); }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: -1px; }
.empty { color: var(--dim); font-style: italic; }
#detail section + section { margin-top: 16px; }
form { display: flex; gap: 8px; }
input { background: var(--bg); color: var(--text); border: 1px solid var(--line); border-radius: 6px; padding: 6px 8px; }
button { background: var(--accent); color: #0b1020; border: 0; border-radius: 6px; padding: 6px 12px; font-weight: 600; }
`;

const SCRIPT = `
'use strict';
const params = new URLSearchParams(location.hash.slice(1));
if (params.has('token')) sessionStorage.setItem('exo-admin-token', params.get('token'));
let token = sessionStorage.getItem('exo-admin-token');
let selected = params.get('room');
history.replaceState(null, '', location.pathname + (selected ? '#room=' + encodeURIComponent(selected) : ''));

const $ = (id) => document.getElementById(id);
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) { const td = document.createElement('td'); if (c instanceof Node) td.append(c); else td.textContent = c; tr.append(td); }
  return tr;
}
function ago(ms) { return ms < 1000 ? 'now' : ms < 60000 ? Math.round(ms / 1000) + ' s ago' : Math.round(ms / 60000) + ' min ago'; }
function left(ms) { const s = Math.ceil(ms / 1000); return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0'); }
function clock(t) { return t === null ? '—' : new Date(t).toLocaleTimeString(); }
function fill(tbody, rows, empty, cols) {
  tbody.replaceChildren(...(rows.length ? rows : [row([el('span', empty, 'empty')])]));
  if (!rows.length) tbody.firstChild.firstChild.colSpan = cols;
}

async function get(path) {
  const res = await fetch(path, { headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
  if (res.status === 401) throw new Error('the token was refused');
  if (res.status === 404 && path !== '/rooms') return null;
  if (!res.ok) throw new Error(path + ' answered ' + res.status);
  return res.json();
}

function renderRooms(list) {
  fill($('rooms'), list.rooms.map((r) => {
    const tr = row([r.roomId, r.users + (r.connected < r.users ? ' (' + r.connected + ' on)' : ''), r.locks, r.viewers]);
    tr.className = 'room' + (r.roomId === selected ? ' selected' : '');
    tr.onclick = () => { selected = r.roomId; history.replaceState(null, '', '#room=' + encodeURIComponent(selected)); refresh(); };
    return tr;
  }), 'no rooms', 4);
}

function renderRoom(room) {
  $('detail').hidden = room === null;
  if (room === null) return;
  $('room-title').textContent = 'Room ' + room.roomId + ' · seq ' + room.seq;
  fill($('users'), room.users.map((u) => {
    const who = el('span');
    if (u.color) { const s = el('span', null, 'swatch'); s.style.background = u.color; who.append(s); }
    who.append(u.name ? u.name + ' (' + u.userId + ')' : u.userId);
    const state = el('span');
    state.append(el('span', null, 'dot' + (u.connected ? ' on' : '')), u.connected ? 'connected' : 'in grace until ' + clock(u.graceUntil));
    return row([who, state, ago(u.lastSeenAgoMs), clock(u.joinedAt)]);
  }), 'no users', 4);
  fill($('locks'), room.locks.map((l) => row([l.planetId, l.holder, l.fence === null ? '—' : String(l.fence), left(l.timeLeftMs)])), 'no locks', 4);
  fill($('viewers'), room.viewers.map((v) => row([v.planetId, v.userId, v.cameraAt === null ? 'no camera yet' : ago(room.now - v.cameraAt), v.relayPending ? 'relay pending' : ''])), 'no viewers', 4);
}

async function refresh() {
  if (!token) { $('login').hidden = false; return; }
  try {
    const rooms = await get('/rooms');
    renderRooms(rooms);
    renderRoom(selected ? await get('/rooms/' + encodeURIComponent(selected)) : null);
    $('status').className = '';
    $('status').textContent = rooms.rooms.length + ' rooms · updated ' + new Date().toLocaleTimeString();
  } catch (err) {
    $('status').className = 'error';
    $('status').textContent = String(err.message || err);
  }
}

$('login').onsubmit = (e) => {
  e.preventDefault();
  token = $('token').value;
  sessionStorage.setItem('exo-admin-token', token);
  $('login').hidden = true;
  refresh();
};
async function loop() { await refresh(); setTimeout(loop, 1000); }
loop();
`;

const BODY = `<header><h1>Exo realtime · inspector</h1>
<form id="login" hidden><input id="token" type="password" placeholder="ADMIN_TOKEN" autocomplete="off"><button>Open</button></form>
<span id="status">loading…</span></header>
<main>
<section><h2>Rooms</h2><table><thead><tr><th>room</th><th>users</th><th>locks</th><th>viewers</th></tr></thead><tbody id="rooms"></tbody></table></section>
<div id="detail" hidden>
<section><h2 id="room-title">Room</h2><table><thead><tr><th>user</th><th>state</th><th>last seen</th><th>joined</th></tr></thead><tbody id="users"></tbody></table></section>
<section><h2>Locks</h2><table><thead><tr><th>planet</th><th>holder</th><th>fence</th><th>time left</th></tr></thead><tbody id="locks"></tbody></table></section>
<section><h2>Viewers</h2><table><thead><tr><th>planet</th><th>user</th><th>last camera</th><th></th></tr></thead><tbody id="viewers"></tbody></table></section>
</div>
</main>`;

const hash = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

export const INSPECTOR_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Exo realtime inspector</title><style>${STYLE}</style></head>
<body>${BODY}<script>${SCRIPT}</script></body></html>
`;

export const INSPECTOR_CSP = [
  "default-src 'none'",
  `script-src ${hash(SCRIPT)}`,
  `style-src ${hash(STYLE)}`,
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');
