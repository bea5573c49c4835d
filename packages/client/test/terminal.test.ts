import { afterEach, describe, expect, it } from 'vitest';
import { type ExoError, ManualScheduler } from '../src/index.js';
import { cleanUp, client, connectionsSettle, joinedClient, nextEvent, startDaemon, Wire } from './kit.js';

afterEach(cleanUp);

describe('closes that end the session for good', () => {
  it('stops for good when another client takes the user over with its token: no reconnect loop', async () => {
    const daemon = await startDaemon();
    const scheduler = new ManualScheduler(Date.now());
    const wire = new Wire();
    const tab1 = await joinedClient(daemon, 'ana', 'room', { scheduler, WebSocket: wire.WebSocket });
    const granted = await tab1.select('kepler-22b');
    const replacedNotice = nextEvent(tab1, 'serverError');
    const closed = nextEvent(tab1, 'state', (s) => s.state === 'closed');

    const tab2 = client(daemon, 'ana-tab2', { resumeToken: tab1.resumeToken ?? '' });
    await tab2.connect();
    const taken = await tab2.join('room', { userId: 'ana' });
    expect(taken.lock).toMatchObject({
      planetId: 'kepler-22b',
      fence: granted.status === 'granted' ? granted.fence : -1,
    });

    expect((await replacedNotice).code).toBe('SESSION_REPLACED');
    const change = await closed;
    expect(change).toMatchObject({ previous: 'open', closeCode: 4001, error: { code: 'SESSION_REPLACED' } });
    // Nothing is scheduled: no reconnect, no heartbeat; and time passing changes nothing.
    expect(scheduler.pending).toBe(0);
    scheduler.advance(10 * 60_000);
    expect(wire.opened).toBe(1);
    expect(tab1.state).toBe('closed');
    expect(await tab1.select('x').catch((err: ExoError) => err.code)).toBe('CLOSED');
    await connectionsSettle(daemon, 1);
    expect(tab2.state).toBe('open');
    expect(tab2.room.lock?.planetId).toBe('kepler-22b');
  });

  it('stops for good when its token was used by another client while it was away (FORBIDDEN)', async () => {
    const daemon = await startDaemon({ core: { reconnectGraceMs: 60_000 } });
    const scheduler = new ManualScheduler(Date.now());
    const wire = new Wire();
    const tab1 = await joinedClient(daemon, 'ana', 'room', { scheduler, WebSocket: wire.WebSocket });
    const token = tab1.resumeToken ?? '';
    const reconnecting = nextEvent(tab1, 'state', (s) => s.state === 'reconnecting');
    for (const socket of daemon.socketsOf('/ana')) socket.destroy();
    const { retryInMs } = await reconnecting;

    const tab2 = client(daemon, 'ana-tab2', { resumeToken: token });
    await tab2.connect();
    await tab2.join('room', { userId: 'ana' });

    const closed = nextEvent(tab1, 'state', (s) => s.state === 'closed');
    scheduler.advance(retryInMs ?? 0);
    expect((await closed).error).toMatchObject({ code: 'FORBIDDEN' });
    expect(scheduler.pending).toBe(0);
    expect(wire.opened).toBe(2);
    await connectionsSettle(daemon, 1);
    expect(tab2.state).toBe('open');
  });

  it('refuses to reconnect after a 401 on the upgrade: connect rejects with UNAUTHORIZED', async () => {
    const daemon = await startDaemon({ authenticate: async () => null });
    const scheduler = new ManualScheduler(Date.now());
    const wire = new Wire();
    const ana = client(daemon, 'ana', { scheduler, WebSocket: wire.WebSocket, token: 'expired-or-forged' });
    const error = await ana.connect().catch((err: ExoError) => err);
    expect(error).toMatchObject({ code: 'UNAUTHORIZED' });
    expect(ana.state).toBe('closed');
    expect(scheduler.pending).toBe(0);
    expect(wire.opened).toBe(1);
  });

  it('offers the token as an exo.auth subprotocol, fresh from a function on each connection', async () => {
    const seen: string[] = [];
    const daemon = await startDaemon({
      authenticate: async (req) => {
        seen.push(String(req.headers['sec-websocket-protocol']));
        return { userId: 'ana' };
      },
    });
    let n = 0;
    const ana = await joinedClient(daemon, 'ana', 'room', { token: async () => `t${++n}` });
    const restored = nextEvent(ana, 'restored');
    for (const socket of daemon.socketsOf('/ana')) socket.destroy();
    await restored;
    expect(seen).toEqual(['exo.v1,exo.auth.t1', 'exo.v1,exo.auth.t2']);
  });

  it('stops for good at 4401 when the token expires', async () => {
    const scheduler = new ManualScheduler(Date.now());
    const daemon = await startDaemon({
      clock: { now: () => scheduler.now() },
      authenticate: async () => ({ userId: 'ana', expiresAt: scheduler.now() + 60_000 }),
    });
    // No heartbeat within the minute: its answer could not arrive while the test moves the clock.
    const ana = client(daemon, 'ana', { scheduler, token: 'short-lived', heartbeatIntervalMs: 3_600_000 });
    await ana.connect();
    await ana.join('room', { userId: 'ana' });
    const closed = nextEvent(ana, 'state', (s) => s.state === 'closed');
    scheduler.advance(60_000);
    // The daemon applies the expiry before the next command: that command is cut off.
    expect(await ana.joinViewer('p').catch((err: ExoError) => err.code)).toBe('DISCONNECTED');
    expect(await closed).toMatchObject({ closeCode: 4401, error: { code: 'TOKEN_EXPIRED' } });
    expect(scheduler.pending).toBe(0);
  });

  it('stops for good at 1009 when the server refuses a frame as too large', async () => {
    const daemon = await startDaemon({ maxMessageBytes: 200 });
    const scheduler = new ManualScheduler(Date.now());
    const ana = client(daemon, 'ana', { scheduler });
    const closed = nextEvent(ana, 'state', (s) => s.state === 'closed');
    await ana.connect();
    const join = ana.join('room', { userId: 'ana', avatarUrl: `https://example.org/${'a'.repeat(300)}.png` });
    expect(await join.catch((err: ExoError) => err.code)).toBe('DISCONNECTED');
    expect(await closed).toMatchObject({ closeCode: 1009, error: { code: 'FRAME_TOO_LARGE' } });
    expect(scheduler.pending).toBe(0);
  });

  it('close() closes cleanly: the others see the user leave at once, and pending commands reject', async () => {
    const daemon = await startDaemon({ core: { reconnectGraceMs: 60_000 } });
    const ana = await joinedClient(daemon, 'ana');
    const ben = await joinedClient(daemon, 'ben');
    const gone = nextEvent(ben, 'presence', (users) => users.length === 1);
    const pending = ana.select('p').catch((err: ExoError) => err.code);
    await ana.close();
    expect(await pending).toBe('CLOSED');
    await gone;
    expect(ana.state).toBe('closed');
  });
});
