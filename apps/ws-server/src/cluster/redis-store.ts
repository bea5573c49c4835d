// RoomStore on one standalone Redis (≥ 6.2) through node-redis v5. Rules:
// - Keys, all under the prefix: `room:{id}` hash {v, doc}; `cams:{id}` hash; `rooms` sorted set of
//   live room ids scored by their key's expiry time (ms, Redis clock); `deadlines` sorted set
//   room id → next deadline; `proc:{id}` liveness string (PX); `procs` set; `procrooms:{proc}` set.
//   Each process listens on channel `chan:{proc}`. A room index expires PROC_INDEX_TTL_FACTOR
//   liveness TTLs after its process's last beat, or with the room's TTL when a commit creates it.
// - A commit is one Lua script: the version check, the write, every index and the PUBLISHes run
//   atomically, so the messages of a room's commits reach every channel in commit order.
// - Live rooms are counted without approximation: a member of `rooms` whose score (its key's
//   expiry) has passed is dead; the commit script drops those first (ZREMRANGEBYSCORE up to Redis's
//   TIME), so `maxRooms` is exact. `load` counts members with a score above this process's clock
//   (ZCOUNT in the pipeline, no write): off only by the clock skew between this host and Redis.
// - An expired room leaves the deadline index lazily: `dueRooms` and `nextDeadline` are scripts that
//   drop entries whose room key is gone, so an expired room is never due and never blocks the head.
//   (They touch keys not passed in KEYS: fine on a standalone Redis, not on Redis Cluster.)
// - Outage: commands are refused at once while a connection is down (`disableOfflineQueue`, and a
//   readiness check before pipelines and scripts, which node-redis would otherwise queue), as
//   StoreUnavailableError. Both connections retry every ≤ 500 ms forever; `up` is true only while
//   both are ready. The subscriber connection re-subscribes by itself before it reports ready.
//   The first connection is not retried: `connect` rejects, so a daemon started without its Redis
//   says so and exits rather than waiting silently.

import { createHash } from 'node:crypto';
import { createClient, ErrorReply, type RedisClientType } from 'redis';
import {
  type CameraWrite,
  type CommitResult,
  type Publication,
  type RoomCommit,
  type RoomLoad,
  type RoomStore,
  StoreUnavailableError,
} from './store.js';

export interface RedisRoomStoreOptions {
  /** Prepended to every key and channel (default 'exo:'), so several deployments can share a Redis. */
  readonly keyPrefix?: string;
  /** Called once per round trip to Redis (a pipeline counts once), for metrics. */
  readonly onCommand?: (command: string) => void;
  /** Told every connection error (reachability changes also go to onStatus listeners). */
  readonly onError?: (err: Error) => void;
}

/** A process's room index lives this many liveness TTLs after its last beat, so it expires too if
 * every process dies and nobody is left to `forget` it. */
const PROC_INDEX_TTL_FACTOR = 10;
/** Reconnect delays grow by this step up to the cap: quick after a blip, ≤ 500 ms during an outage. */
const RECONNECT_STEP_MS = 50;
const RECONNECT_CAP_MS = 500;

type Client = RedisClientType;
type Arg = string;

class Script {
  readonly sha: string;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

const COMMIT = new Script(`
-- KEYS: 1 room hash, 2 camera hash, 3 live rooms zset, 4 deadlines zset, then the room index of
--       each of ARGV[8] procs, then that of each of ARGV[9] dropped procs.
-- ARGV: 1 room id, 2 expect, 3 doc, 4 live '1'|'0', 5 ttl ms, 6 next deadline ('' = none),
--       7 max rooms ('' = no limit), 8 #procs, 9 #dropProcs, 10.. channel, payload pairs.
local version = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if version ~= tonumber(ARGV[2]) then return 'clash' end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local live = ARGV[4] == '1'
local ttl = tonumber(ARGV[5])
if live and ARGV[7] ~= '' and not redis.call('ZSCORE', KEYS[3], ARGV[1])
    and redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[7]) then
  return 'full'
end
redis.call('HSET', KEYS[1], 'v', version + 1, 'doc', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ttl)
if live then
  redis.call('ZADD', KEYS[3], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], ttl)
else
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('DEL', KEYS[2])
end
if ARGV[6] == '' then
  redis.call('ZREM', KEYS[4], ARGV[1])
else
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1])
end
local procs, drops = tonumber(ARGV[8]), tonumber(ARGV[9])
for i = 1, procs do
  redis.call('SADD', KEYS[4 + i], ARGV[1])
  -- An index nobody beats for (its process died, or was forgotten) must not live forever.
  if redis.call('PTTL', KEYS[4 + i]) == -1 then redis.call('PEXPIRE', KEYS[4 + i], ttl) end
end
for i = 1, drops do redis.call('SREM', KEYS[4 + procs + i], ARGV[1]) end
for i = 10, #ARGV, 2 do redis.call('PUBLISH', ARGV[i], ARGV[i + 1]) end
return 'ok'
`);

const DUE_ROOMS = new Script(`
-- KEYS: 1 deadlines zset. ARGV: 1 now, 2 limit, 3 room key prefix.
local due, limit = {}, tonumber(ARGV[2])
while #due < limit do
  local batch = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', #due, limit - #due)
  if #batch == 0 then break end
  local stale = false
  for _, id in ipairs(batch) do
    if redis.call('EXISTS', ARGV[3] .. id) == 1 then
      due[#due + 1] = id
    else
      redis.call('ZREM', KEYS[1], id)
      stale = true
    end
  end
  if not stale then break end
end
return due
`);

const NEXT_DEADLINE = new Script(`
-- KEYS: 1 deadlines zset. ARGV: 1 room key prefix.
while true do
  local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  if #head == 0 then return false end
  if redis.call('EXISTS', ARGV[1] .. head[1]) == 1 then return head[2] end
  redis.call('ZREM', KEYS[1], head[1])
end
`);

const FORGET = new Script(`
-- KEYS: 1 liveness key, 2 process set, 3 room index. ARGV: 1 process id.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[3])
return 1
`);

/** Replies that mean "not now" rather than a bug in a command. */
const TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|MASTERDOWN)\b/;

export class RedisRoomStore implements RoomStore {
  readonly #cmd: Client;
  readonly #sub: Client;
  readonly #prefix: string;
  readonly #onCommand: (command: string) => void;
  readonly #statusListeners: Array<(up: boolean) => void> = [];
  #up: boolean;
  #closed = false;

  private constructor(cmd: Client, sub: Client, options: RedisRoomStoreOptions) {
    this.#cmd = cmd;
    this.#sub = sub;
    this.#prefix = options.keyPrefix ?? 'exo:';
    this.#onCommand = options.onCommand ?? (() => {});
    this.#up = cmd.isReady && sub.isReady;
    for (const client of [cmd, sub]) {
      for (const event of ['ready', 'end', 'reconnecting', 'error']) client.on(event, () => this.#refresh());
    }
  }

  /** Connects both clients; rejects with StoreUnavailableError when Redis cannot be reached. */
  static async connect(url: string, options: RedisRoomStoreOptions = {}): Promise<RedisRoomStore> {
    const cmd = RedisRoomStore.#client(url, options);
    const sub = RedisRoomStore.#client(url, options);
    try {
      await cmd.connect();
      await sub.connect();
    } catch (err) {
      for (const client of [cmd, sub]) if (client.isOpen) client.destroy();
      throw new StoreUnavailableError(`cannot reach Redis at ${redactUrl(url)}: ${errorText(err)}`, {
        cause: err,
      });
    }
    return new RedisRoomStore(cmd, sub, options);
  }

  static #client(url: string, options: RedisRoomStoreOptions): Client {
    let wasReady = false;
    const client: Client = createClient({
      url,
      disableOfflineQueue: true,
      socket: {
        // Never give up once connected (an outage must heal by itself); refuse at once before.
        reconnectStrategy: (retries, cause) =>
          wasReady ? Math.min(RECONNECT_STEP_MS * (retries + 1), RECONNECT_CAP_MS) : cause,
      },
    });
    client.on('ready', () => {
      wasReady = true;
    });
    // An 'error' event without a listener would crash the process; every one lands here.
    client.on('error', (err: Error) => options.onError?.(err));
    return client;
  }

  get up(): boolean {
    return this.#up;
  }

  onStatus(listener: (up: boolean) => void): void {
    this.#statusListeners.push(listener);
  }

  async load(roomId: string): Promise<RoomLoad> {
    const [fields, cameras, roomCount] = await this.#pipeline([
      ['HMGET', this.#key('room', roomId), 'v', 'doc'],
      ['HGETALL', this.#key('cams', roomId)],
      ['ZCOUNT', this.#key('rooms'), `(${Date.now()}`, '+inf'],
    ]);
    const [version, doc] = fields as [string | null, string | null];
    return {
      room: version !== null && doc !== null ? { version: Number(version), doc } : null,
      cameras: pairs(cameras as string[]),
      roomCount: roomCount as number,
    };
  }

  async commit(commit: RoomCommit): Promise<CommitResult> {
    const keys = [
      this.#key('room', commit.roomId),
      this.#key('cams', commit.roomId),
      this.#key('rooms'),
      this.#key('deadlines'),
      ...commit.procs.map((proc) => this.#key('procrooms', proc)),
      ...commit.dropProcs.map((proc) => this.#key('procrooms', proc)),
    ];
    const args = [
      commit.roomId,
      String(commit.expect),
      commit.doc,
      commit.live ? '1' : '0',
      ms(commit.ttlMs),
      commit.nextDeadline === null ? '' : String(commit.nextDeadline),
      commit.maxRooms === undefined ? '' : String(commit.maxRooms),
      String(commit.procs.length),
      String(commit.dropProcs.length),
      ...this.#publications(commit.publish),
    ];
    const result = await this.#script(COMMIT, keys, args);
    if (result !== 'ok' && result !== 'clash' && result !== 'full') {
      throw new Error(`commit script answered ${JSON.stringify(result)}`);
    }
    return result;
  }

  async relay(write: CameraWrite): Promise<void> {
    const cams = this.#key('cams', write.roomId);
    await this.#pipeline([
      ['HSET', cams, write.field, write.value],
      ...(write.ttlMs === undefined ? [] : [['PEXPIRE', cams, ms(write.ttlMs)] as Arg[]]),
      ...write.publish.map(({ proc, payload }): Arg[] => ['PUBLISH', this.#key('chan', proc), payload]),
    ]);
  }

  async subscribe(proc: string, onMessage: (payload: string) => void): Promise<void> {
    if (!this.#sub.isReady) throw new StoreUnavailableError('Redis subscriber connection is down');
    this.#onCommand('subscribe');
    await this.#unavailableAsError(
      this.#sub.subscribe(this.#key('chan', proc), (payload: string) => {
        try {
          onMessage(payload);
        } catch (err) {
          // A throw inside node-redis's socket reader would reset its decoder; let it surface as
          // an uncaught exception of its own, as it would from any other event handler.
          queueMicrotask(() => {
            throw err;
          });
        }
      }),
    );
  }

  async dueRooms(now: number, limit: number): Promise<string[]> {
    const due = await this.#script(
      DUE_ROOMS,
      [this.#key('deadlines')],
      [String(now), String(Math.max(0, limit)), this.#key('room', '')],
    );
    return due as string[];
  }

  async nextDeadline(): Promise<number | null> {
    const head = await this.#script(NEXT_DEADLINE, [this.#key('deadlines')], [this.#key('room', '')]);
    return head === null ? null : Number(head);
  }

  async beat(proc: string, ttlMs: number): Promise<void> {
    await this.#pipeline([
      ['SET', this.#key('proc', proc), '1', 'PX', ms(ttlMs)],
      ['SADD', this.#key('procs'), proc],
      ['PEXPIRE', this.#key('procrooms', proc), ms(PROC_INDEX_TTL_FACTOR * ttlMs)],
    ]);
  }

  async deadProcs(): Promise<string[]> {
    const procs = (await this.#send(['SMEMBERS', this.#key('procs')])) as string[];
    if (procs.length === 0) return [];
    const alive = await this.#pipeline(procs.map((proc): Arg[] => ['EXISTS', this.#key('proc', proc)]));
    return procs.filter((_, i) => alive[i] === 0);
  }

  async roomsOf(proc: string): Promise<string[]> {
    return (await this.#send(['SMEMBERS', this.#key('procrooms', proc)])) as string[];
  }

  /** A script, so that a process which beat again since it was found dead keeps its index. */
  async forget(proc: string): Promise<void> {
    await this.#script(
      FORGET,
      [this.#key('proc', proc), this.#key('procs'), this.#key('procrooms', proc)],
      [proc],
    );
  }

  async ping(): Promise<void> {
    await this.#send(['PING']);
  }

  /** Quits both connections (pending commands finish first); listeners hear nothing more. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(
      [this.#cmd, this.#sub].map(async (client) => {
        if (!client.isOpen) return;
        // While reconnecting there is nothing to wait for: drop the socket and the retry loop.
        if (client.isReady) await client.close();
        else client.destroy();
      }),
    );
  }

  #key(kind: string, id?: string): string {
    return id === undefined ? `${this.#prefix}${kind}` : `${this.#prefix}${kind}:${id}`;
  }

  #publications(publish: readonly Publication[]): Arg[] {
    return publish.flatMap(({ proc, payload }) => [this.#key('chan', proc), payload]);
  }

  #refresh(): void {
    const up = this.#cmd.isReady && this.#sub.isReady;
    if (up === this.#up || this.#closed) return;
    this.#up = up;
    for (const listener of this.#statusListeners) listener(up);
  }

  /**
   * Refuses while either connection is down: a commit whose publications this process cannot
   * receive (subscriber down) would leave its sender without an answer.
   */
  #ready(): void {
    if (!this.#cmd.isReady) throw new StoreUnavailableError('Redis connection is down');
    if (!this.#sub.isReady) throw new StoreUnavailableError('Redis subscriber connection is down');
  }

  async #send(args: Arg[]): Promise<unknown> {
    this.#ready();
    this.#onCommand(String(args[0]).toLowerCase());
    return this.#unavailableAsError(this.#cmd.sendCommand(args));
  }

  async #pipeline(commands: Arg[][]): Promise<unknown[]> {
    // node-redis queues pipelines while disconnected even with disableOfflineQueue: refuse here.
    this.#ready();
    this.#onCommand('pipeline');
    const multi = this.#cmd.multi();
    for (const args of commands) multi.addCommand(args);
    return this.#unavailableAsError(multi.execAsPipeline());
  }

  /** EVALSHA, falling back to EVAL when Redis lost its script cache (restart, SCRIPT FLUSH). */
  async #script(script: Script, keys: Arg[], args: Arg[]): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await this.#send(['EVALSHA', script.sha, ...tail]);
    } catch (err) {
      if (!(err instanceof ErrorReply) || !err.message.startsWith('NOSCRIPT')) throw err;
      return this.#send(['EVAL', script.source, ...tail]);
    }
  }

  async #unavailableAsError<T>(pending: Promise<T>): Promise<T> {
    try {
      return await pending;
    } catch (err) {
      // A reply error is Redis refusing a command (a bug here), except for the transient ones;
      // anything else is the connection failing.
      if (err instanceof ErrorReply && !TRANSIENT_REPLY.test(err.message)) throw err;
      throw new StoreUnavailableError(`Redis unavailable: ${errorText(err)}`, { cause: err });
    }
  }
}

/** PX and PEXPIRE take whole milliseconds; a fractional TTL would be refused as a bad argument. */
function ms(ttlMs: number): string {
  return String(Math.ceil(ttlMs));
}

function pairs(flat: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(flat[i]!, flat[i + 1]!);
  return map;
}

function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** The URL without its password, for error messages that end up in logs. */
function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
