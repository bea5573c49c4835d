// HubTally: what the hub reports becomes counts with closed label sets, and each camera relay's
// delay is timed from the arrival of the camera it carries — at once when the frame's own step
// relays it, after the throttle when it was coalesced, never for a camera that was superseded.

import type { CameraState, ParseResult, ServerMessage } from '@exo/protocol';
import { parseClientMessage } from '@exo/protocol';
import { describe, expect, it } from 'vitest';
import { frameLabel, HubTally } from './hub-tally.js';

function tallyWithClock() {
  let t = 1000;
  const delays: number[] = [];
  const tally = new HubTally(
    (s) => delays.push(s),
    () => t,
  );
  return { tally, delays, advance: (ms: number) => (t += ms) };
}

const cameraFrame = (x: number) =>
  parseClientMessage(
    JSON.stringify({ type: 'camera', planetId: 'p', userId: 'ana', camera: { position: [x, 0, 0] } }),
  ) as Extract<ParseResult, { ok: true }> & { message: { camera: CameraState } };

const relayOf = (frame: ReturnType<typeof cameraFrame>): ServerMessage => ({
  type: 'camera',
  planetId: 'p',
  userId: 'ana',
  camera: frame.message.camera,
});

describe('frameLabel', () => {
  it.each([
    ['{"type":"select","planetId":"p","userId":"a"}', 'select'],
    ['{"type":"select","planetId":"bad id","userId":"a"}', 'select'],
    ['{"type":"ana-was-here"}', 'unknown'],
    ['{"type":"__proto__"}', 'unknown'],
    ['not json', 'invalid'],
    ['[1,2]', 'invalid'],
    ['{"type":7}', 'invalid'],
  ])('labels %s as %s, never with a value taken from the frame', (text, label) => {
    expect(frameLabel(parseClientMessage(text))).toBe(label);
  });
});

describe('HubTally counts', () => {
  it('counts frames in by type, deliveries out by type, and errors by code', () => {
    const { tally } = tallyWithClock();
    tally.frameIn(parseClientMessage('{"type":"heartbeat","userId":"a","ts":1}'));
    tally.frameIn(parseClientMessage('nope'));
    tally.frameDone();
    tally.messageOut({ type: 'presence', users: [], seq: 1 }, 3, 2);
    tally.messageOut(
      { type: 'error', ok: false, code: 'RATE_LIMITED', message: 'slow', retryAfterMs: 5 },
      1,
      1,
    );
    tally.messageOut({ type: 'error', ok: false, code: 'BAD_JSON', message: 'x' }, 1, 0);
    expect(Object.fromEntries(tally.messagesIn)).toEqual({ heartbeat: 1, invalid: 1 });
    expect(Object.fromEntries(tally.messagesOut)).toEqual({ presence: 2, error: 1 });
    expect(Object.fromEntries(tally.errors)).toEqual({ RATE_LIMITED: 1, BAD_JSON: 1 });
    expect(tally.rateLimited).toBe(1);
  });

  it('counts relays held for a slow reader, and those written once it drains as deliveries', () => {
    const { tally } = tallyWithClock();
    tally.relayHeld();
    tally.relayHeld();
    tally.relaysFlushed(1);
    tally.slowReaderClosed();
    expect(tally.slowConsumerDropped).toBe(2);
    expect(tally.slowConsumerClosed).toBe(1);
    expect(tally.messagesOut.get('camera')).toBe(1);
  });
});

describe('HubTally relay delay', () => {
  it('times a relay sent in its frame’s own step from that frame', () => {
    const { tally, delays, advance } = tallyWithClock();
    const frame = cameraFrame(1);
    tally.frameIn(frame);
    advance(0.25);
    tally.messageOut(relayOf(frame), 2, 2);
    tally.frameDone();
    expect(delays).toEqual([0.00025]);
  });

  it('times a coalesced relay from the arrival of the camera it carries, throttle wait included', () => {
    const { tally, delays, advance } = tallyWithClock();
    const first = cameraFrame(1);
    tally.frameIn(first);
    tally.messageOut(relayOf(first), 1, 1);
    tally.frameDone();
    advance(10);
    const superseded = cameraFrame(2);
    tally.frameIn(superseded);
    tally.frameDone();
    advance(15);
    const latest = cameraFrame(3);
    tally.frameIn(latest);
    tally.frameDone();
    advance(25);
    tally.messageOut(relayOf(latest), 1, 1);
    expect(delays).toEqual([0, 0.025]);
  });

  it('records nothing for a camera that is never relayed, and nothing twice', () => {
    const { tally, delays, advance } = tallyWithClock();
    const frame = cameraFrame(1);
    tally.frameIn(frame);
    tally.frameDone();
    advance(50);
    tally.messageOut({ type: 'presence', users: [], seq: 2 }, 1, 1);
    expect(delays).toEqual([]);
    tally.messageOut(relayOf(frame), 1, 1);
    tally.messageOut(relayOf(frame), 1, 1);
    expect(delays).toEqual([0.05]);
  });
});
