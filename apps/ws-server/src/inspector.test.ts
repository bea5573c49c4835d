// GET /inspector in headless Chromium: the page renders a room's users, locks and viewers from
// /rooms/:id, refreshes by itself when the room changes, asks for a token when it has none, and
// says so when the token is refused. The
// screenshot lands in artifacts/inspector.png. Chromium is Debian's /usr/bin/chromium driven by
// playwright-core; without it this test fails — it is part of the suite, not optional.

import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { joined } from '../test/kit.js';
import { opsPerTest } from '../test/ops-kit.js';

const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = fileURLToPath(new URL('../../../artifacts/', import.meta.url));
const TOKEN = 'inspector-token-0123456789';
const ops = opsPerTest();
const WAIT_MS = 10_000;

let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)`);
  }
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
});

async function openPage(url: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 640 } });
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
  });
  await page.goto(url);
  return { page, problems };
}

/** The shape of a <tr> this test reads (the package builds without the DOM typings). */
interface TableRow {
  readonly cells: ArrayLike<{ readonly textContent: string | null }>;
}

/** The text of every cell, row by row, of a table body. */
const rowsOf = (page: Page, tbody: string) =>
  page
    .locator(`#${tbody} tr`)
    .evaluateAll((rows) =>
      rows.map((r) => Array.from((r as unknown as TableRow).cells, (c) => c.textContent ?? '')),
    );

describe('the inspector page', () => {
  it('shows a room live: users, locks and viewers, refreshed as the room changes', async () => {
    const { exo, base } = await ops({ adminToken: TOKEN });
    const ana = await joined(exo.url, 'ana', 'kepler', {
      user: { userId: 'ana', name: 'Ana', color: '#e0a' },
    });
    const ben = await joined(exo.url, 'ben', 'kepler', {
      user: { userId: 'ben', name: 'Ben', color: '#4af' },
    });
    const zoe = await joined(exo.url, 'zoe', 'trappist');
    ana.send({ type: 'select', planetId: 'kepler-22b', userId: 'ana' });
    await ana.until('ack');
    for (const [c, id] of [
      [ana, 'ana'],
      [ben, 'ben'],
    ] as const) {
      c.send({ type: 'join_viewer', planetId: 'kepler-22b', userId: id });
      await c.until('ack');
    }
    ben.send({ type: 'camera', planetId: 'kepler-22b', userId: 'ben', camera: { position: [0, 2, 10] } });

    const { page, problems } = await openPage(`${base}/inspector#token=${TOKEN}&room=kepler`);
    await page.locator('#users tr', { hasText: 'Ben (ben)' }).waitFor({ timeout: WAIT_MS });
    expect(page.url()).not.toContain(TOKEN);

    expect(await rowsOf(page, 'rooms')).toEqual([
      ['kepler', '2', '1', '2'],
      ['trappist', '1', '0', '0'],
    ]);
    const users = await rowsOf(page, 'users');
    expect(users.map((u) => u.slice(0, 2))).toEqual([
      ['Ana (ana)', 'connected'],
      ['Ben (ben)', 'connected'],
    ]);
    const [lock] = await rowsOf(page, 'locks');
    expect(lock!.slice(0, 2)).toEqual(['kepler-22b', 'ana']);
    expect(lock![2]).toMatch(/^\d{16}$/);
    expect(lock![3]).toMatch(/^[45]:\d\d$/);
    const viewers = await rowsOf(page, 'viewers');
    expect(viewers.map((v) => v.slice(0, 3))).toEqual([
      ['kepler-22b', 'ana', 'no camera yet'],
      ['kepler-22b', 'ben', expect.stringMatching(/^(now|\d+ s ago)$/)],
    ]);

    // Live: a third user joins and takes another lock; the page shows both without a reload.
    const cleo = await joined(exo.url, 'cleo', 'kepler', {
      user: { userId: 'cleo', name: 'Cleo', color: '#fc3' },
    });
    cleo.send({ type: 'select', planetId: 'kepler-452b', userId: 'cleo' });
    await cleo.until('ack');
    await page.locator('#users tr', { hasText: 'Cleo (cleo)' }).waitFor({ timeout: WAIT_MS });
    await page.locator('#locks tr', { hasText: 'kepler-452b' }).waitFor({ timeout: WAIT_MS });
    expect((await rowsOf(page, 'locks')).map((l) => l.slice(0, 2))).toEqual([
      ['kepler-22b', 'ana'],
      ['kepler-452b', 'cleo'],
    ]);
    expect(await page.locator('#login').isHidden()).toBe(true);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}inspector.png`, fullPage: true });
    expect(existsSync(`${ARTIFACTS}inspector.png`)).toBe(true);
    expect(problems).toEqual([]);
    await page.close();
    for (const c of [ana, ben, zoe, cleo]) c.close();
  }, 60_000);

  it('asks for the token when the link carries none, then shows the rooms', async () => {
    const { exo, base } = await ops({ adminToken: TOKEN });
    const ana = await joined(exo.url, 'ana', 'kepler');
    const { page } = await openPage(`${base}/inspector`);
    await page.locator('#login').waitFor({ state: 'visible', timeout: WAIT_MS });
    await page.fill('#token', TOKEN);
    await page.click('#login button');
    await page.locator('#rooms tr', { hasText: 'kepler' }).waitFor({ timeout: WAIT_MS });
    expect(await page.locator('#login').isHidden()).toBe(true);
    await page.close();
    ana.close();
  }, 60_000);

  it('says the token was refused, and shows no room', async () => {
    const { exo, base } = await ops({ adminToken: TOKEN });
    const ana = await joined(exo.url, 'ana', 'kepler');
    const { page } = await openPage(`${base}/inspector#token=wrong-token-0123456789&room=kepler`);
    await page.locator('#status.error', { hasText: 'the token was refused' }).waitFor({ timeout: WAIT_MS });
    expect(await page.locator('#rooms tr').count()).toBe(0);
    expect(await page.locator('#detail').isHidden()).toBe(true);
    await page.close();
    ana.close();
  }, 60_000);
});
