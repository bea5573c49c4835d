import { afterEach, describe, expect, it } from 'vitest';
import { connect, startServer } from '../test/kit.js';
import type { Logger } from './log.js';

type Call = { level: keyof Logger; fields: Record<string, unknown>; message: string | undefined };

function recordingLogger(calls: Call[]): Logger {
  const at =
    (level: keyof Logger) =>
    (fields: object, message?: string): void => {
      calls.push({ level, fields: fields as Record<string, unknown>, message });
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('abuse in the logs', () => {
  const servers: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  it('logs, per connection, how many frames were rate limited before a flood close', async () => {
    const calls: Call[] = [];
    const s = await startServer({
      core: { rateLimitMax: 3, rateLimitWindowMs: 60_000 },
      logger: recordingLogger(calls),
    });
    servers.push(s);
    const client = await connect(s.url);
    for (let i = 0; i < 12; i++) client.send({ type: 'heartbeat', userId: 'a', ts: i });
    expect((await client.closed()).code).toBe(1008);
    const limited = client.inbox.filter((m) => m.type === 'error' && m.code === 'RATE_LIMITED');
    expect(limited).toHaveLength(6);
    await expect.poll(() => calls.find((c) => c.message?.includes('rate budget'))).toBeDefined();
    const line = calls.find((c) => c.message?.includes('rate budget'))!;
    expect(line.level).toBe('warn');
    expect(line.fields).toMatchObject({ code: 1008, rateLimited: 6, address: '127.0.0.1' });
  });

  it('does not log a well-behaved connection as abusive', async () => {
    const calls: Call[] = [];
    const s = await startServer({ logger: recordingLogger(calls) });
    servers.push(s);
    const client = await connect(s.url);
    client.send({ type: 'heartbeat', userId: 'a', ts: 1 });
    await client.next('error');
    client.close(1000);
    await client.closed();
    await expect.poll(() => calls.find((c) => c.message === 'connection closed')).toBeDefined();
    expect(calls.filter((c) => c.level === 'warn' || c.level === 'error')).toEqual([]);
  });
});
