import { afterEach, describe, expect, it } from 'vitest';
import { ManualScheduler } from '../src/index.js';
import { cleanUp, client, joinedClient, nextEvent, startDaemon, until, Wire } from './kit.js';

afterEach(cleanUp);

const camera = { position: [3, 2, 1] as [number, number, number] };

describe('reconnecting after the server drops the connection', () => {
  it('rejoins after a network drop and restores the selection, the viewer and the last camera', async () => {
    const daemon = await startDaemon();
    const ana = await joinedClient(daemon, 'ana');
    const ben = await joinedClient(daemon, 'ben');
    await ana.select('kepler-22b');
    await ana.joinViewer('kepler-22b');
    await ben.joinViewer('kepler-22b');
    ana.sendCamera('kepler-22b', camera);
    await until(ben, () => ben.room.cameras.get('kepler-22b')?.has('ana') === true, 'ben to see ana');

    // Grace is 0: the server drops ana at once, releasing her lock, and tells ben.
    const released = nextEvent(ben, 'selection', (s) => !s.has('kepler-22b'));
    const reconnecting = nextEvent(ana, 'state', (s) => s.state === 'reconnecting');
    const restored = nextEvent(ana, 'restored');
    for (const socket of daemon.socketsOf('/ana')) socket.destroy();
    await released;
    expect(await reconnecting).toMatchObject({ previous: 'open', closeCode: 1006, attempt: 1 });

    const relock = nextEvent(ben, 'selection', (s) => s.get('kepler-22b')?.userIds[0] === 'ana');
    expect(await restored).toEqual({
      selection: { status: 'reselected', planetId: 'kepler-22b' },
      viewing: ['kepler-22b'],
      viewingFailed: [],
    });
    await relock;
    // The new daemon-side session has no camera for ana until she resends her last one.
    await until(ben, () => ben.room.cameras.get('kepler-22b')?.get('ana') !== undefined, "ana's camera");
    expect(ben.room.cameras.get('kepler-22b')?.get('ana')).toEqual(camera);
    expect(ana.state).toBe('open');
    expect(ana.room.lock?.planetId).toBe('kepler-22b');
    expect(ben.room.users.map((u) => u.userId)).toEqual(['ben', 'ana']);
  });

  it('takes itself over while the server keeps it in a reconnect grace: same lock, same fence', async () => {
    const daemon = await startDaemon({ core: { reconnectGraceMs: 10_000 } });
    const ana = await joinedClient(daemon, 'ana');
    const ben = await joinedClient(daemon, 'ben');
    const granted = await ana.select('kepler-22b');
    await ana.joinViewer('kepler-22b');
    const graced = nextEvent(ben, 'presence', (users) =>
      users.some((u) => u.userId === 'ana' && !u.connected),
    );
    const restored = nextEvent(ana, 'restored');
    for (const socket of daemon.socketsOf('/ana')) socket.destroy();
    await graced;
    expect(await restored).toMatchObject({ selection: { status: 'kept', planetId: 'kepler-22b' } });
    expect(ana.room.lock).toMatchObject({
      planetId: 'kepler-22b',
      fence: granted.status === 'granted' ? granted.fence : -1,
    });
    await until(ben, () => ben.room.users.every((u) => u.connected), 'ana to be connected again');
    expect(ben.room.selections.get('kepler-22b')?.userIds).toEqual(['ana']);
  });

  it('restores on a restarted daemon after a 1001 close', async () => {
    const daemon = await startDaemon();
    const ana = await joinedClient(daemon, 'ana');
    const ben = await joinedClient(daemon, 'ben');
    await ana.select('kepler-22b');
    await ana.joinViewer('kepler-22b');
    await ben.joinViewer('kepler-22b');
    const closes = [
      nextEvent(ana, 'state', (s) => s.state === 'reconnecting'),
      nextEvent(ben, 'state', (s) => s.state === 'reconnecting'),
    ];
    const restored = Promise.all([nextEvent(ana, 'restored'), nextEvent(ben, 'restored')] as const);
    await daemon.restart();
    for (const close of await Promise.all(closes)) expect(close.closeCode).toBe(1001);
    const [anaReport, benReport] = await restored;
    expect(anaReport.selection).toEqual({ status: 'reselected', planetId: 'kepler-22b' });
    expect(anaReport.viewing).toEqual(['kepler-22b']);
    expect(benReport.viewing).toEqual(['kepler-22b']);
    await until(
      ben,
      () => ben.room.selections.get('kepler-22b')?.userIds[0] === 'ana',
      'the lock on the new daemon',
    );
    await until(ben, () => ben.room.users.length === 2, 'both users on the new daemon');
  });

  it('reports a conflict when someone took the planet while it was away', async () => {
    const daemon = await startDaemon();
    const scheduler = new ManualScheduler(Date.now());
    const ana = await joinedClient(daemon, 'ana', 'room', { scheduler });
    const ben = await joinedClient(daemon, 'ben');
    await ana.select('kepler-22b');
    const reconnecting = nextEvent(ana, 'state', (s) => s.state === 'reconnecting');
    const anaGone = nextEvent(ben, 'presence', (users) => users.length === 1);
    for (const socket of daemon.socketsOf('/ana')) socket.destroy();
    const { retryInMs } = await reconnecting;
    await anaGone;
    expect((await ben.select('kepler-22b')).status).toBe('granted');

    const conflict = nextEvent(ana, 'conflict');
    const restored = nextEvent(ana, 'restored');
    scheduler.advance(retryInMs ?? 0);
    expect(await conflict).toMatchObject({ planetId: 'kepler-22b', lockedBy: 'ben', duringRestore: true });
    expect((await restored).selection).toEqual({
      status: 'conflict',
      planetId: 'kepler-22b',
      lockedBy: 'ben',
    });
    expect(ana.room.lock).toBeNull();
    expect(ana.room.selections.get('kepler-22b')?.userIds).toEqual(['ben']);
  });

  it('gives up a socket that stops answering heartbeats and takes itself over on a new one', async () => {
    const daemon = await startDaemon();
    const scheduler = new ManualScheduler(Date.now());
    const wire = new Wire();
    const ana = await joinedClient(daemon, 'ana', 'room', { scheduler, WebSocket: wire.WebSocket });
    const granted = await ana.select('kepler-22b');
    await ana.joinViewer('kepler-22b');
    // The server stops reading ana's socket: her frames go nowhere, yet it holds her connection.
    for (const socket of daemon.socketsOf('/ana')) socket.pause();
    const reconnecting = nextEvent(ana, 'state', (s) => s.state === 'reconnecting');
    scheduler.advance(30_000);
    expect(wire.framesOf('heartbeat')).toHaveLength(1);
    scheduler.advance(10_000);
    const { retryInMs } = await reconnecting;

    const restored = nextEvent(ana, 'restored');
    scheduler.advance(retryInMs ?? 0);
    expect(await restored).toEqual({
      selection: { status: 'kept', planetId: 'kepler-22b' },
      viewing: ['kepler-22b'],
      viewingFailed: [],
    });
    expect(wire.opened).toBe(2);
    expect(wire.framesOf('join').at(-1)).toMatchObject({ resumeToken: expect.any(String) });
    expect(ana.room.lock?.fence).toBe(granted.status === 'granted' ? granted.fence : -1);
    expect(ana.state).toBe('open');
  });

  it('sends a heartbeat every 30 s, which renews the lock and keeps the user present', async () => {
    const scheduler = new ManualScheduler(Date.now());
    const daemon = await startDaemon({
      clock: { now: () => scheduler.now() },
      core: { presenceTimeoutMs: 45_000 },
    });
    const wire = new Wire();
    const ana = await joinedClient(daemon, 'ana', 'room', { scheduler, WebSocket: wire.WebSocket });
    const ben = await joinedClient(daemon, 'ben');
    const granted = await ana.select('kepler-22b');
    for (let beat = 1; beat <= 4; beat++) {
      const renewed = nextEvent(
        ana,
        'lock',
        (lock) => lock !== null && lock.expiresAt > granted.expiresAt + (beat - 1) * 30_000,
      );
      scheduler.advance(30_000);
      expect((await renewed)?.expiresAt).toBe(granted.expiresAt + beat * 30_000);
    }
    expect(wire.framesOf('heartbeat')).toHaveLength(4);
    // 120 s went by on the server's clock, past its 45 s presence timeout: ana is still there.
    await ben.joinViewer('x');
    expect(ben.room.users.map((u) => u.userId)).toEqual(['ana', 'ben']);
    expect(ben.room.selections.get('kepler-22b')?.userIds).toEqual(['ana']);
    expect(ana.serverNow()).toBe(scheduler.now());
  });

  it('sends commands made while reconnecting once the session is restored', async () => {
    const daemon = await startDaemon();
    const scheduler = new ManualScheduler(Date.now());
    const ana = await joinedClient(daemon, 'ana', 'room', { scheduler });
    await ana.joinViewer('a');
    const reconnecting = nextEvent(ana, 'state', (s) => s.state === 'reconnecting');
    for (const socket of daemon.socketsOf('/ana')) socket.destroy();
    const { retryInMs } = await reconnecting;
    const selected = ana.select('b');
    scheduler.advance(retryInMs ?? 0);
    expect(await selected).toMatchObject({ status: 'granted', planetId: 'b' });
    expect([...ana.room.viewing]).toEqual(['a']);
  });
});

describe('closes the server decides', () => {
  it('re-joins after its presence expired (4008) and restores the lock', async () => {
    // The daemon runs on the test's clock: 90 s pass without a frame from ana, none from ben.
    const scheduler = new ManualScheduler(Date.now());
    const daemon = await startDaemon({ clock: { now: () => scheduler.now() } });
    const ana = await joinedClient(daemon, 'ana', 'room', { scheduler, heartbeatIntervalMs: 3_600_000 });
    await ana.select('kepler-22b');
    scheduler.advance(45_000);
    const ben = await joinedClient(daemon, 'ben');
    scheduler.advance(45_000);
    const expired = nextEvent(ana, 'state', (s) => s.state === 'reconnecting');
    // ben's command makes the daemon apply what fell due before it: ana's presence expiry.
    await ben.joinViewer('x');
    const { closeCode, retryInMs } = await expired;
    expect(closeCode).toBe(4008);
    const restored = nextEvent(ana, 'restored');
    scheduler.advance(retryInMs ?? 0);
    expect((await restored).selection).toEqual({ status: 'reselected', planetId: 'kepler-22b' });
    expect(ana.room.users.map((u) => u.userId)).toEqual(['ben', 'ana']);
  });

  it('backs off for at least 2.5 s after a flooding close (1008)', async () => {
    const daemon = await startDaemon({ core: { rateLimitMax: 1, rateLimitWindowMs: 10_000 } });
    const scheduler = new ManualScheduler(Date.now());
    const ana = await joinedClient(daemon, 'ana', 'room', { scheduler, rateLimitRetries: 0 });
    const flooded = nextEvent(ana, 'state', (s) => s.state === 'reconnecting');
    const refused = ['a', 'b', 'c'].map((p) => ana.joinViewer(p).catch((err: { code: string }) => err.code));
    const change = await flooded;
    expect(change.closeCode).toBe(1008);
    expect(change.retryInMs).toBeGreaterThanOrEqual(2500);
    expect(change.retryInMs).toBeLessThanOrEqual(5000);
    // The fourth frame in the window closed the connection instead of getting an answer.
    expect(await Promise.all(refused)).toEqual(['RATE_LIMITED', 'RATE_LIMITED', 'DISCONNECTED']);
  });

  it('stays closed after 4002 once it has left, and the next join reconnects', async () => {
    const daemon = await startDaemon({ core: { joinTimeoutMs: 200 } });
    const ana = await joinedClient(daemon, 'ana');
    const idle = nextEvent(ana, 'state', (s) => s.state === 'closed');
    await ana.leave();
    const closed = await idle;
    expect(closed.closeCode).toBe(4002);
    expect(closed.error).toBeUndefined();
    const reopened = nextEvent(ana, 'state', (s) => s.state === 'open');
    const joined = await ana.join('room', { userId: 'ana' });
    await reopened;
    expect(joined.resumeToken).not.toBe('');
    expect(ana.room.users.map((u) => u.userId)).toEqual(['ana']);
  });
});

describe('first connection', () => {
  it('keeps trying with back-off while the server is down', async () => {
    const daemon = await startDaemon();
    const url = daemon.url;
    await daemon.close();
    const scheduler = new ManualScheduler(Date.now());
    const wire = new Wire();
    const ana = client({ ...daemon, url }, 'ana', {
      scheduler,
      WebSocket: wire.WebSocket,
      random: () => 0.5,
    });
    const first = nextEvent(ana, 'state', (s) => s.state === 'reconnecting');
    void ana.connect().catch(() => undefined);
    expect(await first).toMatchObject({ previous: 'connecting', attempt: 1, retryInMs: 375 });
    const second = nextEvent(ana, 'state', (s) => s.state === 'reconnecting' && s.attempt === 2);
    scheduler.advance(375);
    expect((await second).retryInMs).toBe(750);
    expect(wire.opened).toBe(2);
  });
});
