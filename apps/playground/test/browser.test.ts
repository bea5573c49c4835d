// The playground in a real browser: headless Chromium (Debian's, driven by playwright-core) opens
// two windows on one room and checks that what one does shows in the other. There is no skip: a
// missing Chromium fails the run with the command that installs it (.ci/run installs it).

import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createExoServer, type ExoServer } from '@exo/ws-server';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Playground, startPlayground } from '../src/server/serve.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const root = fileURLToPath(new URL('..', import.meta.url));
const artifacts = fileURLToPath(new URL('../../../artifacts/', import.meta.url));

let daemon: ExoServer;
let playground: Playground;
let browser: Browser;
const pageErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium is missing at ${CHROMIUM}; the browser test needs it and does not skip. ` +
        'Install it with: apt-get update && apt-get install -y chromium',
    );
  }
  daemon = await createExoServer({ host: '127.0.0.1', port: 0 });
  playground = await startPlayground({ root, port: 0, host: '127.0.0.1' });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost',
    ],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await playground?.close();
  await daemon?.close();
}, 30_000);

/** A window of its own (a fresh browser context) joined to room `pg` as `user`. */
async function openWindow(user: string, name: string, room = 'pg'): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1240, height: 860 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => pageErrors.push(`${user}: ${err.message}`));
  page.on('console', (msg) => {
    // The browser logs every refused WebSocket attempt; while a daemon restarts, those are expected.
    if (msg.type() === 'error' && !/WebSocket connection to .* failed/.test(msg.text())) {
      pageErrors.push(`${user}: ${msg.text()}`);
    }
  });
  const query = new URLSearchParams({ server: `ws://127.0.0.1:${daemon.port}`, room, user, name });
  await page.goto(`${playground.url}?${query}`);
  await page.locator('#status[data-state="open"]').waitFor();
  return page;
}

const planet = (page: Page, id: string) => page.locator(`#planets [data-planet="${id}"]`);

describe('the playground in two browser windows', () => {
  it('shows presence, a lock, a conflict and a moving camera in both windows', {
    timeout: 60_000,
  }, async () => {
    const a = await openWindow('ana', 'Ana');
    const b = await openWindow('ben', 'Ben');
    await a.locator('#presence li[data-user="ben"]').waitFor();
    await b.locator('#presence li[data-user="ana"]').waitFor();
    expect(await b.locator('#presence li').allTextContents()).toEqual(['Ana', 'Ben (you)']);

    // Selecting a planet in one window shows the lock in the other.
    await planet(a, 'kepler-22b').locator('button').click();
    await planet(b, 'kepler-22b').and(b.locator('[data-holder="ana"]')).waitFor();
    expect(await planet(b, 'kepler-22b').locator('.lock').textContent()).toBe('locked by Ana');
    expect(await planet(a, 'kepler-22b').locator('.lock').textContent()).toMatch(
      /^locked by you · [45]:\d\d left$/,
    );
    expect(await planet(a, 'kepler-22b').locator('button').textContent()).toBe('Release');

    // Selecting it in the other shows the conflict, and from then on the time left there too.
    await planet(b, 'kepler-22b').locator('button').click();
    const conflict = b.locator('#conflict');
    await conflict.and(b.locator(':not([hidden])')).waitFor();
    expect(await conflict.textContent()).toMatch(/^Kepler-22b is locked by Ana for another [45]:\d\d\.$/);
    expect(await planet(b, 'kepler-22b').locator('.lock').textContent()).toMatch(
      /^locked by Ana · [45]:\d\d left$/,
    );

    // Dragging the camera in one window moves it in the other: to (0.25, 0.75) of the map is x -5, z 5.
    await a.locator('#camera-canvas').scrollIntoViewIfNeeded();
    const box = (await a.locator('#camera-canvas').boundingBox())!;
    await a.mouse.move(box.x + box.width * 0.5, box.y + box.height * 0.2);
    await a.mouse.down();
    await a.mouse.move(box.x + box.width * 0.25, box.y + box.height * 0.75, { steps: 12 });
    await a.mouse.up();
    await a.locator('#cameras li[data-user="ana"][data-x="-5"][data-z="5"]').waitFor();
    const anaInB = b.locator('#cameras li[data-user="ana"]');
    await anaInB.and(b.locator('[data-x="-5"][data-z="5"]')).waitFor();
    expect(await anaInB.textContent()).toBe('Ana: x -5.0, z 5.0');
    // And the other way round: ben's camera is in ana's window.
    await a.locator('#cameras li[data-user="ben"]').waitFor();

    mkdirSync(artifacts, { recursive: true });
    await a.screenshot({ path: join(artifacts, 'playground-a.png'), fullPage: true });
    await b.screenshot({ path: join(artifacts, 'playground-b.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it('reconnects both windows after a daemon restart and restores the lock', {
    timeout: 60_000,
  }, async () => {
    const a = await openWindow('ana', 'Ana', 'restart');
    const b = await openWindow('ben', 'Ben', 'restart');
    await planet(a, 'proxima-b').locator('button').click();
    await planet(b, 'proxima-b').and(b.locator('[data-holder="ana"]')).waitFor();

    // A deploy: every socket closed with 1001, a fresh daemon (no state) on the same port.
    const port = daemon.port;
    await daemon.close();
    // Let one attempt fail on the closed port first: the page backs off and tries again.
    await a.locator('#status[data-state="reconnecting"]', { hasText: 'attempt 2' }).waitFor();
    daemon = await createExoServer({ host: '127.0.0.1', port });

    await a.locator('#status[data-state="open"]').waitFor();
    await b.locator('#status[data-state="open"]').waitFor();
    await planet(b, 'proxima-b').and(b.locator('[data-holder="ana"]')).waitFor();
    await b.locator('#presence li[data-user="ana"]').waitFor();
    expect(await planet(a, 'proxima-b').locator('.lock').textContent()).toMatch(
      /^locked by you · [45]:\d\d left$/,
    );
    expect(pageErrors).toEqual([]);
  });
});
