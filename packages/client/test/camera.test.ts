import { afterEach, describe, expect, it } from 'vitest';
import { ManualScheduler } from '../src/index.js';
import { cleanUp, joinedClient, nextEvent, startDaemon, Wire } from './kit.js';

afterEach(cleanUp);

describe('camera sends', () => {
  it('turns a burst of 1,000 sendCamera calls into a few frames, and the last camera arrives', async () => {
    const daemon = await startDaemon();
    const wire = new Wire();
    const ana = await joinedClient(daemon, 'ana', 'room', { WebSocket: wire.WebSocket });
    const ben = await joinedClient(daemon, 'ben');
    await ana.joinViewer('p');
    await ben.joinViewer('p');
    const last = nextEvent(ben, 'camera', (e) => e.camera.position[0] === 999);
    for (let i = 0; i < 1000; i++) ana.sendCamera('p', { position: [i, 1, 0], target: [0, 0, 0] });
    await last;
    // The first goes at once, the latest when the 50 ms frame ends.
    expect(wire.framesOf('camera').map((f) => (f.camera as { position: number[] }).position[0])).toEqual([
      0, 999,
    ]);
    expect(ben.room.cameras.get('p')?.get('ana')).toEqual({ position: [999, 1, 0], target: [0, 0, 0] });
  });

  it('lets a 60 fps render loop call sendCamera every frame: at most one frame per 50 ms leaves', async () => {
    const daemon = await startDaemon();
    const scheduler = new ManualScheduler(Date.now());
    const wire = new Wire();
    const ana = await joinedClient(daemon, 'ana', 'room', { scheduler, WebSocket: wire.WebSocket });
    const ben = await joinedClient(daemon, 'ben');
    await ana.joinViewer('p');
    await ben.joinViewer('p');
    const sentAt: number[] = [];
    const before = wire.sent.length;
    for (let frame = 0; frame < 120; frame++) {
      ana.sendCamera('p', { position: [frame, 0, 0] });
      while (wire.sent.length > before + sentAt.length) sentAt.push(scheduler.now());
      scheduler.advance(1000 / 60);
      while (wire.sent.length > before + sentAt.length) sentAt.push(scheduler.now());
    }
    const last = nextEvent(ben, 'camera', (e) => e.camera.position[0] === 119);
    scheduler.advance(50);
    await last;
    const frames = wire.framesOf('camera');
    expect(frames.length).toBeGreaterThan(30);
    expect(frames.length).toBeLessThanOrEqual(2000 / 50 + 2);
    for (let i = 1; i < sentAt.length; i++) expect(sentAt[i]! - sentAt[i - 1]!).toBeGreaterThanOrEqual(50);
  });

  it('keeps a camera sent before its joinViewer is answered and sends it once viewing', async () => {
    const daemon = await startDaemon();
    const ana = await joinedClient(daemon, 'ana');
    const ben = await joinedClient(daemon, 'ben');
    await ben.joinViewer('p');
    const relay = nextEvent(ben, 'camera');
    const viewing = ana.joinViewer('p');
    ana.sendCamera('p', { position: [7, 7, 7] });
    await viewing;
    expect((await relay).camera).toEqual({ position: [7, 7, 7] });
  });
});
