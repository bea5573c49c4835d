// Cluster mode with real daemons (CONTRACT §9, issue 4): two or three `node dist/main.js`
// processes with REDIS_URL set, sharing rooms through one private redis-server. Users must not
// notice which process they are on: presence, selections, conflicts, cameras and takeovers cross
// processes; ten simultaneous selects over three processes give one holder and nine conflicts; a
// killed process's users leave within PRESENCE_TIMEOUT_MS; a Redis outage turns /ready to 503 and
// commands to INTERNAL, and the processes recover by themselves; a drain keeps its users' locks for
// a takeover on another process; MAX_ROOMS counts rooms cluster-wide.
//
// Daemons are shared by the tests of a describe that do not kill them; each test uses rooms of its
// own. A test that kills or drains a process spawns that process itself.

import { randomBytes } from 'node:crypto';
import type { AckMessage, CameraState, ServerMessage } from '@exo/protocol';
import { createClient } from 'redis';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { RedisRoomStore } from '../src/cluster/redis-store.js';
import { type Daemon, expectJsonLines, killDaemons, startDaemon, within } from './daemon-kit.js';
import { connect, type TestClient } from './kit.js';
import { describeWithRedis, uncontrollableReason } from './redis.js';

// The engine's liveness TTL is presence/3 capped at 3 s: 2 s here, so a dead process is found
// well within the presence timeout.
const PRESENCE_TIMEOUT_MS = 6000;
/** The race sends hundreds of selects per client within seconds: far over the default budget. */
const VARS = { PRESENCE_TIMEOUT_MS: String(PRESENCE_TIMEOUT_MS), RATE_LIMIT_MAX: '5000' };
const RACE_ROUNDS = 200;
/** For the tests that wait on liveness TTLs, drains and hundreds of rounds: vitest's 5 s is too short. */
const SLOW_TEST_MS = 20_000;
const STORE_DOWN = 'the cluster store is unreachable; try again shortly';

// A safety net: a daemon whose start-up failed halfway is in no list below, but still ours to end.
afterAll(killDaemons);

interface Proc {
  readonly daemon: Daemon;
  /** ws://127.0.0.1:<port>/ */
  readonly url: string;
  /** http://127.0.0.1:<health port> */
  readonly health: string;
  readonly procId: string;
}

/** Starts `count` daemons on the Redis at `redisUrl`, in parallel, and waits until they listen. */
async function startProcs(
  redisUrl: string,
  count: number,
  vars: Record<string, string> = {},
): Promise<Proc[]> {
  const daemons = Array.from({ length: count }, () => startDaemon({ ...VARS, ...vars, REDIS_URL: redisUrl }));
  return Promise.all(
    daemons.map(async (daemon) => {
      const { wsPort, healthPort, cluster } = await daemon.listening();
      if (cluster === null) throw new Error(`the daemon did not start in cluster mode: ${daemon.lines}`);
      return {
        daemon,
        url: `ws://127.0.0.1:${wsPort}/`,
        health: `http://127.0.0.1:${healthPort}`,
        procId: cluster.procId,
      };
    }),
  );
}

function alive(proc: Proc): boolean {
  return proc.daemon.child.exitCode === null && proc.daemon.child.signalCode === null;
}

/** SIGKILLs the daemons (those still running) and waits until they have exited. */
async function end(procs: readonly Proc[]): Promise<void> {
  for (const proc of procs) if (alive(proc)) proc.daemon.child.kill('SIGKILL');
  await Promise.all(procs.map((proc) => proc.daemon.exited));
}

/** Daemons for the whole describe (started in beforeAll, killed in afterAll). */
function sharedProcs(redisUrl: () => string, count: number, vars: Record<string, string> = {}): Proc[] {
  const procs: Proc[] = [];
  beforeAll(async () => {
    procs.push(...(await startProcs(redisUrl(), count, vars)));
  });
  afterAll(() => end(procs.splice(0)));
  return procs;
}

/** A function that starts daemons inside a test: they are killed after it, whatever its outcome. */
function procsPerTest(redisUrl: () => string): (count: number) => Promise<Proc[]> {
  const procs: Proc[] = [];
  afterEach(() => end(procs.splice(0)));
  return async (count) => {
    const started = await startProcs(redisUrl(), count);
    procs.push(...started);
    return started;
  };
}

/** `open(proc)` connects a client; every client is dropped after the test. */
function clientsPerTest(): (proc: Proc) => Promise<TestClient> {
  const clients: TestClient[] = [];
  afterEach(() => {
    for (const client of clients.splice(0)) client.ws.terminate();
  });
  return async (proc) => {
    const client = await connect(proc.url);
    clients.push(client);
    return client;
  };
}

async function ready(proc: Proc): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${proc.health}/ready`);
  return { status: res.status, body: await res.json() };
}

/** Polls every process's /ready until all answer `status`; returns how long that took. */
async function allReady(procs: readonly Proc[], status: number, ms: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const answers = await Promise.all(procs.map(ready));
    if (answers.every((answer) => answer.status === status)) return Date.now() - started;
    if (Date.now() - started > ms) {
      throw new Error(`not every /ready answered ${status} within ${ms} ms: ${JSON.stringify(answers)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** `client.next(type)` with a longer deadline than the kit's 3 s (for waits on liveness TTLs). */
async function nextWithin<T extends ServerMessage['type']>(
  client: TestClient,
  type: T,
  ms: number,
): Promise<Extract<ServerMessage, { type: T }>> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await client.next(type);
    } catch (err) {
      const timedOut = err instanceof Error && err.message.startsWith('timed out');
      if (!timedOut || Date.now() >= deadline) throw err;
    }
  }
}

/** A `presence` entry as the server sends it. */
function user(userId: string, extra: { name?: string; color?: string; connected?: boolean } = {}) {
  const { connected = true, ...profile } = extra;
  return { userId, ...profile, joinedAt: expect.any(Number), lastSeen: expect.any(Number), connected };
}

const anySeq = expect.any(Number);

// Rooms are named per run: with REDIS_URL set, the rooms of an earlier run may still be there.
const RUN = randomBytes(3).toString('hex');
function room(name: string): string {
  return `${name}-${RUN}`;
}

/** Joins on a fresh client, checks the welcome (presence, selection_state, ack), returns the token. */
async function joinAs(
  open: (proc: Proc) => Promise<TestClient>,
  proc: Proc,
  roomId: string,
  userId: string,
): Promise<{ client: TestClient; token: string }> {
  const client = await open(proc);
  client.send({ type: 'join', roomId, user: { userId }, rid: `join-${userId}` });
  const welcome = await client.until('ack');
  expect(welcome.map((m) => m.type)).toEqual(['presence', 'selection_state', 'ack']);
  const ack = welcome[2] as AckMessage;
  expect(ack).toMatchObject({ op: 'join', ok: true, rid: `join-${userId}` });
  return { client, token: ack.resumeToken! };
}

describeWithRedis('daemons sharing rooms through one Redis', (redis) => {
  const procs = sharedProcs(() => redis().url, 3);
  const startOwn = procsPerTest(() => redis().url);
  const open = clientsPerTest();

  it('counts its Redis round trips by command on /metrics, and its rooms as gauges', async () => {
    const [a] = procs as [Proc, Proc, Proc];
    const { client } = await joinAs(open, a, room('metrics'), 'mia');
    client.send({ type: 'select', userId: 'mia', planetId: 'p', rid: 's' });
    await client.until('ack');
    const text = await (await fetch(`${a.health}/metrics`)).text();
    const sample = (name: string) => {
      const line = text.split('\n').find((l) => l.startsWith(name));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    // Two room steps (join, select): a pipelined load and a commit script each, at least.
    expect(sample('exo_redis_commands_total{command="pipeline"}')).toBeGreaterThanOrEqual(2);
    expect(sample('exo_redis_commands_total{command="evalsha"}')).toBeGreaterThanOrEqual(2);
    expect(sample('exo_rooms')).toBeGreaterThanOrEqual(1);
    expect(sample('exo_locks')).toBeGreaterThanOrEqual(1);
  });

  it("users on different processes see each other's presence, selections, conflicts and cameras", async () => {
    const [a, b, c] = procs as [Proc, Proc, Proc];
    const alice = await open(a);
    alice.send({
      type: 'join',
      roomId: room('duo'),
      user: { userId: 'alice', name: 'Alice', color: '#F0A' },
      rid: 'ja',
    });
    const aliceProfile = { name: 'Alice', color: '#f0a' };
    const first = await alice.next('presence');
    expect(first).toEqual({ type: 'presence', users: [user('alice', aliceProfile)], seq: anySeq });
    expect(await alice.next('selection_state')).toEqual({
      type: 'selection_state',
      selected: {},
      seq: anySeq,
    });
    expect(await alice.next('ack')).toEqual({
      type: 'ack',
      op: 'join',
      ok: true,
      rid: 'ja',
      resumeToken: expect.any(String),
      viewing: [],
    });

    const bob = await open(b);
    bob.send({ type: 'join', roomId: room('duo'), user: { userId: 'bob' }, rid: 'jb' });
    const both = { type: 'presence', users: [user('alice', aliceProfile), user('bob')], seq: anySeq };
    const bobSees = await bob.next('presence');
    expect(bobSees).toEqual(both);
    expect(await bob.next('selection_state')).toEqual({ type: 'selection_state', selected: {}, seq: anySeq });
    expect(await bob.next('ack')).toMatchObject({ op: 'join', rid: 'jb' });
    const aliceSees = await alice.next('presence');
    expect(aliceSees).toEqual(both);
    // One room, one order: both processes delivered the same step with the same seq.
    expect(aliceSees.seq).toBe(bobSees.seq);
    expect(aliceSees.seq).toBeGreaterThan(first.seq);

    // A lock taken on A is seen on B, and B's select of it is a conflict naming the holder.
    alice.send({ type: 'select', userId: 'alice', planetId: 'p', rid: 's1' });
    const aliceState = await alice.next('selection_state');
    expect(aliceState).toEqual({ type: 'selection_state', selected: { p: ['alice'] }, seq: anySeq });
    const granted = await alice.next('ack');
    expect(granted).toEqual({
      type: 'ack',
      op: 'select',
      ok: true,
      rid: 's1',
      expiresAt: expect.any(Number),
      fence: expect.any(Number),
    });
    expect(await bob.next('selection_state')).toEqual(aliceState);
    bob.send({ type: 'select', userId: 'bob', planetId: 'p', rid: 's2' });
    expect(await bob.next('conflict')).toEqual({
      type: 'conflict',
      planetId: 'p',
      lockedBy: 'alice',
      reason: 'locked',
      expiresAt: granted.expiresAt,
      rid: 's2',
    });

    // And the other way round.
    bob.send({ type: 'select', userId: 'bob', planetId: 'q', rid: 's3' });
    const bobState = await bob.next('selection_state');
    expect(bobState).toEqual({
      type: 'selection_state',
      selected: { p: ['alice'], q: ['bob'] },
      seq: anySeq,
    });
    const bobGranted = await bob.next('ack');
    expect(bobGranted).toMatchObject({ op: 'select', rid: 's3', fence: expect.any(Number) });
    expect(await alice.next('selection_state')).toEqual(bobState);
    alice.send({ type: 'select', userId: 'alice', planetId: 'q', rid: 's4' });
    expect(await alice.next('conflict')).toEqual({
      type: 'conflict',
      planetId: 'q',
      lockedBy: 'bob',
      reason: 'locked',
      expiresAt: bobGranted.expiresAt,
      rid: 's4',
    });

    // Cameras: relayed to the viewer on the other process, never echoed to the sender. A process
    // relays to the viewers its copy of the room knows: alice views last, so once she has her ack,
    // A has applied bob's join_viewer too (a process receives a room's steps in commit order).
    for (const [client, userId] of [
      [bob, 'bob'],
      [alice, 'alice'],
    ] as const) {
      client.send({ type: 'join_viewer', userId, planetId: 'p', rid: `v-${userId}` });
      expect(await client.next('viewer_cameras')).toEqual({
        type: 'viewer_cameras',
        planetId: 'p',
        cameras: {},
        seq: anySeq,
      });
      expect(await client.next('ack')).toEqual({
        type: 'ack',
        op: 'join_viewer',
        ok: true,
        rid: `v-${userId}`,
      });
    }
    const aliceCam: CameraState = { position: [1, 2, 3], target: [0, 0, 0] };
    const bobCam: CameraState = { position: [4, 5, 6], fov: 60 };
    alice.send({ type: 'camera', userId: 'alice', planetId: 'p', camera: aliceCam });
    expect(await bob.next('camera')).toEqual({
      type: 'camera',
      planetId: 'p',
      camera: aliceCam,
      userId: 'alice',
    });
    bob.send({ type: 'camera', userId: 'bob', planetId: 'p', camera: bobCam });
    expect(await alice.next('camera')).toEqual({
      type: 'camera',
      planetId: 'p',
      camera: bobCam,
      userId: 'bob',
    });

    // A late viewer on a third process gets both processes' users' last cameras in its snapshot.
    const carol = await open(c);
    carol.send({ type: 'join', roomId: room('duo'), user: { userId: 'carol' }, rid: 'jc' });
    expect(await carol.until('ack')).toEqual([
      { type: 'presence', users: [user('alice', aliceProfile), user('bob'), user('carol')], seq: anySeq },
      { type: 'selection_state', selected: { p: ['alice'], q: ['bob'] }, seq: anySeq },
      expect.objectContaining({ type: 'ack', op: 'join', rid: 'jc' }),
    ]);
    for (const earlier of [alice, bob]) expect((await earlier.next('presence')).users).toHaveLength(3);
    carol.send({ type: 'join_viewer', userId: 'carol', planetId: 'p', rid: 'vc' });
    expect(await carol.next('viewer_cameras')).toEqual({
      type: 'viewer_cameras',
      planetId: 'p',
      cameras: { alice: aliceCam, bob: bobCam },
      seq: anySeq,
    });
    expect(await carol.next('ack')).toEqual({ type: 'ack', op: 'join_viewer', ok: true, rid: 'vc' });
    // Alice's own snapshot (join_viewer again) holds the others' cameras, never her own.
    alice.send({ type: 'join_viewer', userId: 'alice', planetId: 'p', rid: 'va2' });
    expect(await alice.next('viewer_cameras')).toEqual({
      type: 'viewer_cameras',
      planetId: 'p',
      cameras: { bob: bobCam },
      seq: anySeq,
    });
    expect(await alice.next('ack')).toMatchObject({ op: 'join_viewer', rid: 'va2' });
    await Promise.all([alice.quiet(), bob.quiet(), carol.quiet()]);
  });

  it('takes a user over from another process with its resumeToken: same lock and fence, old socket 4001', async () => {
    const [a, b, c] = procs as [Proc, Proc, Proc];
    const { client: old, token } = await joinAs(open, a, room('takeover'), 'alice');
    const { client: bob } = await joinAs(open, c, room('takeover'), 'bob');
    await old.next('presence');
    old.send({ type: 'join_viewer', userId: 'alice', planetId: 'p', rid: 'v' });
    await old.until('ack');
    old.send({ type: 'select', userId: 'alice', planetId: 'p', rid: 's' });
    await old.next('selection_state');
    const granted = await old.next('ack');
    expect(granted.fence).toEqual(expect.any(Number));
    await bob.next('selection_state');

    const fresh = await open(b);
    fresh.send({ type: 'join', roomId: room('takeover'), user: { userId: 'alice' }, rid: 'steal' });
    expect(await fresh.next('error')).toEqual({
      type: 'error',
      op: 'join',
      ok: false,
      code: 'FORBIDDEN',
      message: `alice is already in room ${room('takeover')}; join with its resumeToken to take over`,
      rid: 'steal',
    });
    await Promise.all([old.quiet(), bob.quiet()]);

    fresh.send({
      type: 'join',
      roomId: room('takeover'),
      user: { userId: 'alice' },
      resumeToken: token,
      rid: 'resume',
    });
    const everyone = { type: 'presence', users: [user('alice'), user('bob')], seq: anySeq };
    const welcome = await fresh.until('ack');
    expect(welcome).toEqual([
      everyone,
      { type: 'selection_state', selected: { p: ['alice'] }, seq: anySeq },
      { type: 'viewer_cameras', planetId: 'p', cameras: {}, seq: anySeq },
      {
        type: 'ack',
        op: 'join',
        ok: true,
        rid: 'resume',
        resumeToken: expect.any(String),
        lock: { planetId: 'p', expiresAt: granted.expiresAt, fence: granted.fence },
        viewing: ['p'],
      },
    ]);
    expect((welcome[3] as AckMessage).resumeToken).not.toBe(token);
    expect(await old.next('error')).toEqual({
      type: 'error',
      ok: false,
      code: 'SESSION_REPLACED',
      message: 'alice joined from another connection',
    });
    expect(await old.closed()).toEqual({ code: 4001, reason: 'session replaced' });
    expect(await bob.next('presence')).toEqual(everyone);

    // The lock now answers to the new socket: a select renews it under the same fence.
    fresh.send({ type: 'select', userId: 'alice', planetId: 'p', rid: 'renew' });
    expect(await fresh.next('ack')).toEqual({
      type: 'ack',
      op: 'select',
      ok: true,
      rid: 'renew',
      expiresAt: expect.any(Number),
      fence: granted.fence,
    });
    // The token the takeover consumed is spent: a third process refuses it.
    const late = await open(c);
    late.send({
      type: 'join',
      roomId: room('takeover'),
      user: { userId: 'alice' },
      resumeToken: token,
      rid: 'again',
    });
    expect(await late.next('error')).toMatchObject({ code: 'FORBIDDEN', rid: 'again' });
    await Promise.all([fresh.quiet(), bob.quiet()]);
  });

  it(
    'ten clients on three processes select one planet at the same moment, 200 times: one holder, nine conflicts',
    async () => {
      const users = Array.from({ length: 10 }, (_, i) => `u${i}`);
      const clients: TestClient[] = [];
      for (const [i, userId] of users.entries()) {
        const { client } = await joinAs(open, procs[i % 3]!, room('race'), userId);
        for (const earlier of clients) await earlier.next('presence');
        clients.push(client);
      }
      const wins = new Map<string, number>();
      let lastSeq = 0;
      const started = Date.now();
      for (let round = 0; round < RACE_ROUNDS; round++) {
        const planetId = `planet-${round}`;
        // One synchronous loop: the ten frames leave together and race through three processes.
        for (const [i, client] of clients.entries()) {
          client.send({ type: 'select', userId: users[i], planetId, rid: round * 10 + i });
        }
        // Each client sees the winner's step, then its own answer (the losers' steps come after it).
        const seen = await Promise.all(
          clients.map(async (client) => ({
            state: await client.next('selection_state'),
            answer: await client.next(),
          })),
        );
        const winners = seen.flatMap(({ answer }, i) => (answer.type === 'ack' ? [i] : []));
        expect(winners, `round ${round}: acks`).toHaveLength(1);
        const winner = winners[0]!;
        const ack = seen[winner]!.answer as AckMessage;
        expect(ack).toEqual({
          type: 'ack',
          op: 'select',
          ok: true,
          rid: round * 10 + winner,
          expiresAt: expect.any(Number),
          fence: expect.any(Number),
        });
        for (const [i, { answer }] of seen.entries()) {
          if (i === winner) continue;
          expect(answer, `round ${round}: client ${i}`).toEqual({
            type: 'conflict',
            planetId,
            lockedBy: users[winner],
            reason: 'locked',
            expiresAt: ack.expiresAt,
            rid: round * 10 + i,
          });
        }
        const state = seen[0]!.state;
        for (const { state: other } of seen) expect(other).toEqual(state);
        expect(state.selected[planetId], `round ${round}`).toEqual([users[winner]]);
        // A user holds one selection at most: the winner's previous planet was released in that step.
        const holders = Object.values(state.selected).flat();
        expect(new Set(holders).size).toBe(holders.length);
        expect(state.seq).toBeGreaterThan(lastSeq);
        lastSeq = state.seq;
        const proc = procs[winner % 3]!.procId;
        wins.set(proc, (wins.get(proc) ?? 0) + 1);
      }
      const elapsed = Date.now() - started;
      console.info(
        `race: ${RACE_ROUNDS} rounds of 10 simultaneous selects over 3 processes in ${elapsed} ms ` +
          `(${(elapsed / RACE_ROUNDS).toFixed(1)} ms a round); wins per process: ${JSON.stringify([...wins.values()])}`,
      );
      await Promise.all(clients.map((client) => client.quiet(100)));
    },
    SLOW_TEST_MS,
  );

  it(
    "a killed process's users leave presence, selections and snapshots on the others within the presence timeout",
    async () => {
      const [a, b] = procs as [Proc, Proc, Proc];
      const [victim] = (await startOwn(1)) as [Proc];
      const { client: vera } = await joinAs(open, victim, room('crash'), 'vera');
      const { client: bob } = await joinAs(open, a, room('crash'), 'bob');
      await vera.next('presence');
      const { client: carol } = await joinAs(open, b, room('crash'), 'carol');
      await Promise.all([vera.next('presence'), bob.next('presence')]);
      const viewers = [
        { client: vera, userId: 'vera', camera: { position: [1, 1, 1] } as CameraState },
        { client: bob, userId: 'bob', camera: { position: [2, 2, 2] } as CameraState },
        { client: carol, userId: 'carol', camera: { position: [3, 3, 3] } as CameraState },
      ];
      for (const { client, userId } of viewers) {
        client.send({ type: 'join_viewer', userId, planetId: 'p', rid: `v-${userId}` });
        await client.until('ack');
      }
      // The last to view sends first: its process knows every viewer by then; each next sender has
      // received the relays of the earlier ones, so its process has applied their join_viewer too.
      for (const { client, userId, camera } of [...viewers].reverse()) {
        client.send({ type: 'camera', userId, planetId: 'p', camera });
        for (const other of viewers) {
          if (other.client !== client)
            expect(await other.client.next('camera')).toMatchObject({ userId, camera });
        }
      }
      vera.send({ type: 'select', userId: 'vera', planetId: 'p', rid: 'lock' });
      await vera.next('selection_state');
      const held = await vera.next('ack');
      for (const other of [bob, carol])
        expect((await other.next('selection_state')).selected).toEqual({ p: ['vera'] });

      const killedAt = Date.now();
      victim.daemon.child.kill('SIGKILL');
      expect(await within(victim.daemon.exited, 'the killed daemon to exit')).toEqual({
        code: null,
        signal: 'SIGKILL',
      });
      expect((await vera.closed()).code).toBe(1006);
      const left = { type: 'presence', users: [user('bob'), user('carol')], seq: anySeq };
      const bobSaw = await nextWithin(bob, 'presence', PRESENCE_TIMEOUT_MS);
      const detection = Date.now() - killedAt;
      expect(bobSaw).toEqual(left);
      expect(await bob.next('selection_state')).toEqual({
        type: 'selection_state',
        selected: {},
        seq: bobSaw.seq,
      });
      expect(await bob.next('viewer_cameras')).toEqual({
        type: 'viewer_cameras',
        planetId: 'p',
        cameras: { carol: viewers[2]!.camera },
        seq: bobSaw.seq,
      });
      expect(await nextWithin(carol, 'presence', PRESENCE_TIMEOUT_MS)).toEqual(bobSaw);
      expect(await carol.next('selection_state')).toEqual({
        type: 'selection_state',
        selected: {},
        seq: bobSaw.seq,
      });
      expect(await carol.next('viewer_cameras')).toEqual({
        type: 'viewer_cameras',
        planetId: 'p',
        cameras: { bob: viewers[1]!.camera },
        seq: bobSaw.seq,
      });
      console.info(`kill -9: the other processes removed the dead process's user after ${detection} ms`);
      expect(detection).toBeLessThan(PRESENCE_TIMEOUT_MS);

      // The dead holder's lock is free: the next select gets it, under a higher fence.
      carol.send({ type: 'select', userId: 'carol', planetId: 'p', rid: 'after' });
      expect(await carol.next('selection_state')).toEqual({
        type: 'selection_state',
        selected: { p: ['carol'] },
        seq: anySeq,
      });
      const regranted = await carol.next('ack');
      expect(regranted).toMatchObject({ op: 'select', rid: 'after', fence: expect.any(Number) });
      expect(regranted.fence!).toBeGreaterThan(held.fence!);
      expect((await bob.next('selection_state')).selected).toEqual({ p: ['carol'] });
      await Promise.all([bob.quiet(), carol.quiet()]);
    },
    SLOW_TEST_MS,
  );

  it(
    'removes a room whose members were all on a killed process: no live room left, its keys expiring',
    async () => {
      const [victim] = (await startOwn(1)) as [Proc];
      const lonely = room('lonely');
      const { client: solo } = await joinAs(open, victim, lonely, 'solo');
      solo.send({ type: 'select', userId: 'solo', planetId: 'p', rid: 'lock' });
      await solo.until('ack');
      const store = await RedisRoomStore.connect(redis().url);
      try {
        expect(JSON.parse((await store.load(lonely)).room!.doc)).toMatchObject({ live: true });
        victim.daemon.child.kill('SIGKILL');
        await within(victim.daemon.exited, 'the killed daemon to exit');
        const deadline = Date.now() + PRESENCE_TIMEOUT_MS;
        for (;;) {
          const doc = (await store.load(lonely)).room?.doc;
          if (doc === undefined || JSON.parse(doc).live === false) break;
          if (Date.now() > deadline) throw new Error(`room ${lonely} still live: ${doc}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        // What is left is a tombstone (seq and fences for a re-creation) that expires by itself.
        const raw = await createClient({ url: redis().url }).connect();
        try {
          const ttl = Number(await raw.pTTL(`exo:room:${lonely}`));
          expect(ttl === -2 || ttl > 0).toBe(true);
          expect(await raw.exists(`exo:cams:${lonely}`)).toBe(0);
          expect(await raw.zScore('exo:deadlines', lonely)).toBeNull();
        } finally {
          await raw.quit();
        }
      } finally {
        await store.close();
      }
    },
    SLOW_TEST_MS,
  );

  it(
    "a drained process's users stay, disconnected, with their locks, and take themselves over on another process",
    async () => {
      const [, b] = procs as [Proc, Proc, Proc];
      const [doomed] = (await startOwn(1)) as [Proc];
      const { client: alice, token } = await joinAs(open, doomed, room('drain'), 'alice');
      const { client: bob } = await joinAs(open, b, room('drain'), 'bob');
      await alice.next('presence');
      alice.send({ type: 'select', userId: 'alice', planetId: 'p', rid: 's' });
      await alice.next('selection_state');
      const held = await alice.next('ack');
      await bob.next('selection_state');

      doomed.daemon.child.kill('SIGTERM');
      expect(await alice.closed()).toEqual({ code: 1001, reason: 'server shutting down' });
      expect(await bob.next('presence')).toEqual({
        type: 'presence',
        users: [user('alice', { connected: false }), user('bob')],
        seq: anySeq,
      });
      expect(await within(doomed.daemon.exited, 'the drained daemon to exit', 10_000)).toEqual({
        code: 0,
        signal: null,
      });
      bob.send({ type: 'select', userId: 'bob', planetId: 'p', rid: 'try' });
      expect(await bob.next('conflict')).toEqual({
        type: 'conflict',
        planetId: 'p',
        lockedBy: 'alice',
        reason: 'locked',
        expiresAt: held.expiresAt,
        rid: 'try',
      });
      // Longer than the drained process's liveness TTL (2 s) plus a reaper round: had the survivors
      // counted alice among the dead process's users, bob would hear of her leaving now.
      await bob.quiet(3000);

      const back = await open(b);
      back.send({
        type: 'join',
        roomId: room('drain'),
        user: { userId: 'alice' },
        resumeToken: token,
        rid: 'back',
      });
      const everyone = { type: 'presence', users: [user('alice'), user('bob')], seq: anySeq };
      expect(await back.until('ack')).toEqual([
        everyone,
        { type: 'selection_state', selected: { p: ['alice'] }, seq: anySeq },
        {
          type: 'ack',
          op: 'join',
          ok: true,
          rid: 'back',
          resumeToken: expect.any(String),
          lock: { planetId: 'p', expiresAt: held.expiresAt, fence: held.fence },
          viewing: [],
        },
      ]);
      expect(await bob.next('presence')).toEqual(everyone);
      await Promise.all([back.quiet(), bob.quiet()]);
    },
    SLOW_TEST_MS,
  );
});

describeWithRedis('daemons whose Redis goes away and comes back', (redis) => {
  const procs = sharedProcs(() => redis().url, 3);
  const open = clientsPerTest();

  it(
    'answer /ready 503 and INTERNAL while Redis is down, then recover by themselves',
    async (ctx) => {
      const reason = uncontrollableReason(redis());
      if (reason !== null) ctx.skip(reason);
      const [a, b, c] = procs as [Proc, Proc, Proc];
      const { client: ann } = await joinAs(open, a, room('outage'), 'ann');
      const { client: ben } = await joinAs(open, b, room('outage'), 'ben');
      await ann.next('presence');
      const stranger = await open(c);

      await redis().stop();
      await allReady(procs, 503, 3000);
      for (const proc of procs)
        expect(await ready(proc)).toEqual({ status: 503, body: { ok: false, reason: 'redis unreachable' } });
      const internal = (op: string, rid: string) => ({
        type: 'error',
        op,
        ok: false,
        code: 'INTERNAL',
        message: STORE_DOWN,
        rid,
      });
      ann.send({ type: 'select', userId: 'ann', planetId: 'p', rid: 'down-select' });
      expect(await ann.next('error')).toEqual(internal('select', 'down-select'));
      ben.send({ type: 'heartbeat', userId: 'ben', ts: 1, rid: 'down-beat' });
      expect(await ben.next('error')).toEqual(internal('heartbeat', 'down-beat'));
      stranger.send({ type: 'join', roomId: room('outage'), user: { userId: 'cid' }, rid: 'down-join' });
      expect(await stranger.next('error')).toEqual(internal('join', 'down-join'));
      for (const proc of procs) {
        expect(alive(proc)).toBe(true);
        expect((await fetch(`${proc.health}/health`)).status).toBe(200);
      }

      await redis().start();
      const recovery = await allReady(procs, 200, 5000);
      console.info(`Redis restarted: every process answered /ready 200 again after ${recovery} ms`);
      // Redis came back empty: the rooms of connected clients are gone, and they are told so.
      const lost = { code: 1001, reason: 'cluster state lost; reconnect and join again' };
      expect(await ann.closed()).toEqual(lost);
      expect(await ben.closed()).toEqual(lost);

      const { client: ann2 } = await joinAs(open, a, room('outage'), 'ann');
      // The connection whose join failed during the outage was left unbound and usable.
      stranger.send({ type: 'join', roomId: room('outage'), user: { userId: 'ben' }, rid: 'up-join' });
      expect((await stranger.until('ack')).at(-1)).toMatchObject({ op: 'join', ok: true, rid: 'up-join' });
      const ben2 = stranger;
      expect(await ann2.next('presence')).toEqual({
        type: 'presence',
        users: [user('ann'), user('ben')],
        seq: anySeq,
      });
      ann2.send({ type: 'select', userId: 'ann', planetId: 'p', rid: 'up-select' });
      await ann2.next('selection_state');
      expect(await ann2.next('ack')).toEqual({
        type: 'ack',
        op: 'select',
        ok: true,
        rid: 'up-select',
        expiresAt: expect.any(Number),
        fence: expect.any(Number),
      });
      expect((await ben2.next('selection_state')).selected).toEqual({ p: ['ann'] });
      ben2.send({ type: 'select', userId: 'ben', planetId: 'p', rid: 'up-conflict' });
      expect(await ben2.next('conflict')).toMatchObject({ lockedBy: 'ann', rid: 'up-conflict' });
      for (const proc of procs) {
        expect(alive(proc)).toBe(true);
        const fatal = expectJsonLines(proc.daemon.lines).filter((entry) => Number(entry.level) >= 60);
        expect(fatal).toEqual([]);
      }
    },
    SLOW_TEST_MS,
  );
});

describeWithRedis('MAX_ROOMS over daemons sharing one Redis', (redis) => {
  const procs = sharedProcs(() => redis().url, 3, { MAX_ROOMS: '2' });
  const open = clientsPerTest();
  const refusal = (rid: string) => ({
    type: 'error',
    op: 'join',
    ok: false,
    code: 'LIMIT_EXCEEDED',
    message: 'the server holds its maximum of 2 rooms',
    rid,
  });

  it('counts the rooms of every process: a third room is refused until one empties', async (ctx) => {
    // Nothing namespaces the daemons' keys: on a shared Redis, others' rooms would count too.
    if (!redis().controllable) ctx.skip('REDIS_URL is set: rooms of other users of that Redis would count');
    const [a, b, c] = procs as [Proc, Proc, Proc];
    const { client: u1 } = await joinAs(open, a, 'r1', 'u1');
    await joinAs(open, b, 'r2', 'u2');
    for (const proc of [a, c]) {
      const refused = await open(proc);
      refused.send({ type: 'join', roomId: 'r3', user: { userId: 'u3' }, rid: 'r3' });
      expect(await refused.next('error')).toEqual(refusal('r3'));
    }
    // Joining a room that exists creates none.
    const { client: u4 } = await joinAs(open, c, 'r1', 'u4');
    await u1.next('presence');
    u1.send({ type: 'leave', userId: 'u1', rid: 'l1' });
    expect(await u1.next('ack')).toEqual({ type: 'ack', op: 'leave', ok: true, rid: 'l1' });
    expect((await u4.next('presence')).users).toEqual([user('u4')]);
    u4.send({ type: 'leave', userId: 'u4', rid: 'l4' });
    expect(await u4.next('ack')).toEqual({ type: 'ack', op: 'leave', ok: true, rid: 'l4' });

    const { client: u3 } = await joinAs(open, c, 'r3', 'u3');
    const full = await open(a);
    full.send({ type: 'join', roomId: 'r4', user: { userId: 'u5' }, rid: 'r4' });
    expect(await full.next('error')).toEqual(refusal('r4'));

    // One slot free again, two processes race for it: exactly one room is created.
    u3.send({ type: 'leave', userId: 'u3', rid: 'l3' });
    await u3.next('ack');
    const racers = [await open(a), await open(c)];
    for (const [i, racer] of racers.entries()) {
      racer.send({ type: 'join', roomId: `race-${i}`, user: { userId: `racer-${i}` }, rid: `race-${i}` });
    }
    const first = await Promise.all(racers.map((racer) => racer.next()));
    const refused = first.flatMap((m, i) => (m.type === 'error' ? [i] : []));
    expect(refused, JSON.stringify(first)).toHaveLength(1);
    const loser = refused[0]!;
    expect(first[loser]).toEqual(refusal(`race-${loser}`));
    const winner = racers[1 - loser]!;
    expect(first[1 - loser]).toMatchObject({ type: 'presence' });
    expect((await winner.until('ack')).at(-1)).toMatchObject({ op: 'join', rid: `race-${1 - loser}` });
  });
});
