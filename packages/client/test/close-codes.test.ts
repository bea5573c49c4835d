import { beforeEach, describe, expect, it } from 'vitest';
import { ExoClient, type ExoClientEvents, ManualScheduler } from '../src/index.js';
import { FakeSocket, FakeWebSocket, latestSocket } from './fake-socket.js';

beforeEach(() => {
  FakeSocket.made = [];
});

async function joinedOverFake(scheduler: ManualScheduler, random = () => 0.5) {
  const client = new ExoClient({ url: 'ws://fake', WebSocket: FakeWebSocket, scheduler, random });
  const states: ExoClientEvents['state'][] = [];
  client.on('state', (s) => states.push(s));
  const connected = client.connect();
  latestSocket().serverOpen();
  await connected;
  const joined = client.join('room', { userId: 'ana' });
  latestSocket().acceptJoin('ana');
  await joined;
  return { client, states };
}

describe('close codes (CONTRACT §1)', () => {
  it.each([
    [1001, 0],
    [1006, 0],
    [4002, 0],
    [4008, 0],
    [1008, 5000],
    [1013, 5000],
  ])(
    'reconnects after %i, waiting at least %i ms, and re-joins with the resume token',
    async (code, floor) => {
      const scheduler = new ManualScheduler(0);
      const { client, states } = await joinedOverFake(scheduler);
      latestSocket().serverClose(code);
      const change = states.at(-1)!;
      expect(change).toMatchObject({ state: 'reconnecting', closeCode: code, attempt: 1 });
      const ceiling = Math.max(floor, 500);
      expect(change.retryInMs).toBe(ceiling * 0.75);
      scheduler.advance(change.retryInMs! - 1);
      expect(FakeSocket.made).toHaveLength(1);
      scheduler.advance(1);
      expect(FakeSocket.made).toHaveLength(2);
      latestSocket().serverOpen();
      expect(latestSocket().sent[0]).toMatchObject({ type: 'join', roomId: 'room', resumeToken: 'tok' });
      expect(client.state).toBe('reconnecting');
    },
  );

  it.each([
    [4001, 'SESSION_REPLACED'],
    [1009, 'FRAME_TOO_LARGE'],
    [4401, 'TOKEN_EXPIRED'],
  ])('stays closed after %i (%s) with nothing scheduled', async (code, errorCode) => {
    const scheduler = new ManualScheduler(0);
    const { client, states } = await joinedOverFake(scheduler);
    latestSocket().serverClose(code);
    expect(states.at(-1)).toMatchObject({ state: 'closed', closeCode: code, error: { code: errorCode } });
    expect(scheduler.pending).toBe(0);
    scheduler.advance(3_600_000);
    expect(FakeSocket.made).toHaveLength(1);
    expect(client.state).toBe('closed');
  });

  it('treats an upgrade refused with 401 as terminal, and one refused with 503 as passing', async () => {
    const scheduler = new ManualScheduler(0);
    const client = new ExoClient({ url: 'ws://fake', WebSocket: FakeWebSocket, scheduler });
    const connected = client.connect().catch((err: { code: string }) => err.code);
    latestSocket().onerror?.({ message: 'Unexpected server response: 503' });
    latestSocket().serverClose(1006);
    expect(client.state).toBe('reconnecting');
    scheduler.advance(scheduler.nextDue()! - scheduler.now());
    latestSocket().onerror?.({ message: 'Unexpected server response: 401' });
    latestSocket().serverClose(1006);
    expect(await connected).toBe('UNAUTHORIZED');
    expect(scheduler.pending).toBe(0);
  });

  it('backs off exponentially up to 30 s across failed attempts, and starts over after a success', async () => {
    const scheduler = new ManualScheduler(0);
    const { client, states } = await joinedOverFake(scheduler, () => 0.999999);
    latestSocket().serverClose(1006);
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      const wait = states.at(-1)!.retryInMs!;
      waits.push(Math.round(wait));
      scheduler.advance(wait);
      latestSocket().serverClose(1006);
    }
    expect(waits).toEqual([500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    scheduler.advance(states.at(-1)!.retryInMs!);
    const restored = new Promise((resolve) => client.on('restored', resolve));
    latestSocket().serverOpen();
    latestSocket().acceptJoin('ana');
    await restored;
    expect(states.at(-1)?.state).toBe('open');
    latestSocket().serverClose(1001);
    expect(Math.round(states.at(-1)!.retryInMs!)).toBe(500);
  });

  it('after 4002 with nothing to do it stays closed, and the next command reconnects', async () => {
    const scheduler = new ManualScheduler(0);
    const client = new ExoClient({ url: 'ws://fake', WebSocket: FakeWebSocket, scheduler });
    const connected = client.connect();
    latestSocket().serverOpen();
    await connected;
    latestSocket().serverClose(4002);
    expect(client.state).toBe('closed');
    expect(scheduler.pending).toBe(0);
    const joined = client.join('room', { userId: 'ana' });
    expect(client.state).toBe('connecting');
    latestSocket().serverOpen();
    expect(latestSocket().sent[0]).toMatchObject({ type: 'join', roomId: 'room' });
    latestSocket().acceptJoin('ana');
    expect((await joined).resumeToken).toBe('tok');
  });
});
