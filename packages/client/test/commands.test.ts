import { afterEach, describe, expect, it } from 'vitest';
import { ExoError } from '../src/index.js';
import { cleanUp, client, joinedClient, nextEvent, startDaemon, until } from './kit.js';

afterEach(cleanUp);

describe('commands and events against a real daemon', () => {
  it('reports connecting then open, and join resolves with a resume token and an empty session', async () => {
    const daemon = await startDaemon();
    const ana = client(daemon, 'ana');
    const states: string[] = [];
    ana.on('state', (change) => states.push(change.state));
    await ana.connect();
    const result = await ana.join('kepler', { userId: 'ana', name: 'Ana' });
    expect(states).toEqual(['connecting', 'open']);
    expect(result.resumeToken.length).toBeGreaterThan(10);
    expect(result).toMatchObject({ viewing: [], lock: undefined });
    expect(ana.room).toMatchObject({ roomId: 'kepler', userId: 'ana', lock: null });
    expect(ana.room.users.map((u) => [u.userId, u.name, u.connected])).toEqual([['ana', 'Ana', true]]);
  });

  it('mirrors everyone present and emits presence when someone joins, updates a profile or leaves', async () => {
    const daemon = await startDaemon();
    const ana = await joinedClient(daemon, 'ana');
    const joinedSeen = nextEvent(ana, 'presence', (users) => users.length === 2);
    const ben = await joinedClient(daemon, 'ben');
    expect((await joinedSeen).map((u) => u.userId)).toEqual(['ana', 'ben']);
    expect(ben.room.users.map((u) => u.userId)).toEqual(['ana', 'ben']);

    const renamed = nextEvent(ana, 'presence', (users) => users.some((u) => u.name === 'Benjamin'));
    await ben.join('room', { userId: 'ben', name: 'Benjamin', color: '#0AF' });
    expect((await renamed).find((u) => u.userId === 'ben')).toMatchObject({
      name: 'Benjamin',
      color: '#0af',
    });

    const left = nextEvent(ana, 'presence', (users) => users.length === 1);
    await ben.leave();
    expect((await left).map((u) => u.userId)).toEqual(['ana']);
    expect(ben.room).toMatchObject({ roomId: null, userId: null, users: [], lock: null });
  });

  it('grants a select with expiresAt and fence, and the other client sees who holds the lock', async () => {
    const daemon = await startDaemon();
    const ana = await joinedClient(daemon, 'ana');
    const ben = await joinedClient(daemon, 'ben');
    const benSees = nextEvent(ben, 'selection', (s) => s.has('kepler-22b'));
    const lockEvent = nextEvent(ana, 'lock', (lock) => lock !== null);
    const before = Date.now();
    const result = await ana.select('kepler-22b');
    expect(result).toMatchObject({ status: 'granted', planetId: 'kepler-22b' });
    if (result.status !== 'granted') throw new Error('unreachable');
    expect(result.expiresAt).toBeGreaterThanOrEqual(before + 300_000);
    expect(result.fence).toBeGreaterThanOrEqual(before * 1000);
    expect(await lockEvent).toEqual({
      planetId: 'kepler-22b',
      expiresAt: result.expiresAt,
      fence: result.fence,
    });
    expect((await benSees).get('kepler-22b')?.userIds).toEqual(['ana']);
    expect(ana.room.selections.get('kepler-22b')).toEqual({
      planetId: 'kepler-22b',
      userIds: ['ana'],
      expiresAt: result.expiresAt,
    });
  });

  it('resolves a select of a locked planet as a conflict, emits it, and learns when the lock expires', async () => {
    const daemon = await startDaemon();
    const ana = await joinedClient(daemon, 'ana');
    const ben = await joinedClient(daemon, 'ben');
    const granted = await ana.select('kepler-22b');
    await until(ben, () => ben.room.selections.has('kepler-22b'), 'ben to see the lock');
    const conflictEvent = nextEvent(ben, 'conflict');
    const result = await ben.select('kepler-22b');
    expect(result).toEqual({
      status: 'conflict',
      planetId: 'kepler-22b',
      lockedBy: 'ana',
      expiresAt: granted.expiresAt,
    });
    expect(await conflictEvent).toEqual({
      planetId: 'kepler-22b',
      lockedBy: 'ana',
      expiresAt: granted.expiresAt,
      duringRestore: false,
    });
    expect(ben.room.selections.get('kepler-22b')?.expiresAt).toBe(granted.expiresAt);
    expect(ben.room.lock).toBeNull();
  });

  it('unselect releases the lock for everyone; a second unselect rejects with NOT_SELECTED', async () => {
    const daemon = await startDaemon();
    const ana = await joinedClient(daemon, 'ana');
    const ben = await joinedClient(daemon, 'ben');
    await ana.select('kepler-22b');
    await until(ben, () => ben.room.selections.has('kepler-22b'), 'ben to see the lock');
    const released = nextEvent(ben, 'selection', (s) => !s.has('kepler-22b'));
    const lockGone = nextEvent(ana, 'lock', (lock) => lock === null);
    await ana.unselect('kepler-22b');
    await released;
    await lockGone;
    expect(ana.room.lock).toBeNull();

    const error = await ana.unselect('kepler-22b').catch((err: unknown) => err);
    expect(error).toBeInstanceOf(ExoError);
    expect(error).toMatchObject({ code: 'NOT_SELECTED', op: 'unselect', retryAfterMs: undefined });
    expect((error as ExoError).message).toMatch(/kepler-22b/);
  });

  it('selecting another planet moves the lock in one step', async () => {
    const daemon = await startDaemon();
    const ana = await joinedClient(daemon, 'ana');
    await ana.select('a');
    const moved = await ana.select('b');
    expect(moved.status).toBe('granted');
    expect([...ana.room.selections.keys()]).toEqual(['b']);
    expect(ana.room.lock?.planetId).toBe('b');
  });

  it('joinViewer gives the snapshot of the other viewers, and cameras are relayed both ways', async () => {
    const daemon = await startDaemon();
    const ana = await joinedClient(daemon, 'ana');
    const ben = await joinedClient(daemon, 'ben');
    await ana.joinViewer('p');
    ana.sendCamera('p', { position: [1, 2, 3], fov: 50 });
    // ben's snapshot carries ana's last camera, never his own.
    const snapshot = nextEvent(ben, 'viewerCameras', (e) => e.planetId === 'p');
    await ben.joinViewer('p');
    expect([...(await snapshot).cameras]).toEqual([['ana', { position: [1, 2, 3], fov: 50 }]]);
    expect(ben.room.viewing.has('p')).toBe(true);

    const relay = nextEvent(ana, 'camera');
    ben.sendCamera('p', { position: [4, 5, 6], target: [0, 0, 0] });
    expect(await relay).toEqual({
      planetId: 'p',
      userId: 'ben',
      camera: { position: [4, 5, 6], target: [0, 0, 0] },
    });
    expect(ana.room.cameras.get('p')?.get('ben')).toEqual({ position: [4, 5, 6], target: [0, 0, 0] });
  });

  it("leaveViewer drops the planet's cameras here and removes our camera from the others' mirror", async () => {
    const daemon = await startDaemon();
    const ana = await joinedClient(daemon, 'ana');
    const ben = await joinedClient(daemon, 'ben');
    await ana.joinViewer('p');
    await ben.joinViewer('p');
    const seen = nextEvent(ana, 'camera');
    ben.sendCamera('p', { position: [1, 1, 1] });
    await seen;
    const gone = nextEvent(ana, 'viewerCameras', (e) => e.planetId === 'p' && e.cameras.size === 0);
    await ben.leaveViewer('p');
    await gone;
    expect(ben.room.viewing.has('p')).toBe(false);
    expect(ben.room.cameras.has('p')).toBe(false);
    expect(await ben.leaveViewer('p').catch((err: ExoError) => err.code)).toBe('NOT_VIEWING');
  });

  it('rejects a command before join with NOT_JOINED, and before connect with CLOSED', async () => {
    const daemon = await startDaemon();
    const ana = client(daemon, 'ana');
    expect(await ana.join('room', { userId: 'ana' }).catch((err: ExoError) => err.code)).toBe('CLOSED');
    await ana.connect();
    expect(await ana.select('p').catch((err: ExoError) => err.code)).toBe('NOT_JOINED');
  });

  it('rejects a join refused by the server with its code: a second room while joined is ALREADY_JOINED', async () => {
    const daemon = await startDaemon();
    const ana = await joinedClient(daemon, 'ana', 'one');
    const error = await ana.join('two', { userId: 'ana' }).catch((err: ExoError) => err);
    expect(error).toMatchObject({ code: 'ALREADY_JOINED', op: 'join' });
  });

  it('refuses an invalid camera at once, without sending it', async () => {
    const daemon = await startDaemon();
    const ana = await joinedClient(daemon, 'ana');
    await ana.joinViewer('p');
    expect(() => ana.sendCamera('p', { position: [0, Number.NaN, 0] })).toThrow(ExoError);
  });

  it('honours RATE_LIMITED: refused commands wait retryAfterMs and go again, in order', async () => {
    const daemon = await startDaemon({ core: { rateLimitMax: 2, rateLimitWindowMs: 300 } });
    const ana = await joinedClient(daemon, 'ana');
    const order: string[] = [];
    const planets = ['a', 'b', 'c', 'd'];
    const started = Date.now();
    await Promise.all(planets.map((planetId) => ana.joinViewer(planetId).then(() => order.push(planetId))));
    // The join and 'a' fill the first window; the others were refused, waited, and went again.
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(order).toEqual(planets);
    expect([...ana.room.viewing]).toEqual(planets);
  });

  it('rejects with RATE_LIMITED and its retryAfterMs once the retries are used up', async () => {
    const daemon = await startDaemon({ core: { rateLimitMax: 2, rateLimitWindowMs: 10_000 } });
    const ana = await joinedClient(daemon, 'ana', 'room', { rateLimitRetries: 0 });
    const results = await Promise.allSettled([ana.joinViewer('a'), ana.joinViewer('b')]);
    expect(results[0].status).toBe('fulfilled');
    expect(results[1].status).toBe('rejected');
    const error = (results[1] as PromiseRejectedResult).reason as ExoError;
    expect(error).toMatchObject({ code: 'RATE_LIMITED', op: 'join_viewer' });
    expect(error.retryAfterMs).toBeGreaterThan(9000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(10_000);
  });
});
