import { beforeEach, describe, expect, it } from 'vitest';
import { ExoClient, type ExoError, ManualScheduler } from '../src/index.js';
import { FakeSocket, FakeWebSocket, latestSocket } from './fake-socket.js';

beforeEach(() => {
  FakeSocket.made = [];
});

async function connected() {
  const client = new ExoClient({
    url: 'ws://fake',
    WebSocket: FakeWebSocket,
    scheduler: new ManualScheduler(0),
  });
  const errors: ExoError[] = [];
  client.on('serverError', (e) => errors.push(e));
  const open = client.connect();
  latestSocket().serverOpen();
  await open;
  return { client, errors };
}

describe('frames the client cannot read', () => {
  it('rejects the command an unreadable answer was for, naming the field, and reports it', async () => {
    const { client, errors } = await connected();
    const joined = client.join('room', { userId: 'ana' }).catch((err: ExoError) => err);
    const { rid } = latestSocket().sent[0]!;
    latestSocket().serverSend({ type: 'ack', op: 'join', ok: true, rid, resumeToken: 't', fence: 1.5 });
    const error = await joined;
    expect(error).toMatchObject({ code: 'PROTOCOL' });
    expect((error as ExoError).message).toMatch(/fence/);
    expect(errors.map((e) => e.code)).toEqual(['PROTOCOL']);
  });

  it('reports a frame that is not JSON, or a binary one, and stays usable', async () => {
    const { client, errors } = await connected();
    latestSocket().onmessage?.({ data: 'not json' });
    latestSocket().onmessage?.({ data: new Uint8Array([1, 2]) });
    expect(errors.map((e) => e.message)).toEqual([
      'the server sent a frame that is not JSON: not json',
      'the server sent a binary frame',
    ]);
    const joined = client.join('room', { userId: 'ana' });
    latestSocket().acceptJoin('ana');
    expect((await joined).resumeToken).toBe('tok');
  });
});
