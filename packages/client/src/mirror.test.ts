import { describe, expect, it } from 'vitest';
import { RoomMirror } from './mirror.js';

const user = (userId: string) => ({ userId, joinedAt: 1, lastSeen: 1, connected: true });

function joinedMirror(): RoomMirror {
  const mirror = new RoomMirror();
  mirror.joined('room', 'ana', undefined, []);
  return mirror;
}

describe('RoomMirror', () => {
  it('drops a presence whose seq is lower than the last seen, and accepts an equal one', () => {
    const mirror = joinedMirror();
    expect(mirror.applyPresence([user('ana'), user('ben')], 5)).toBe(true);
    expect(mirror.applyPresence([user('ana')], 4)).toBe(false);
    expect(mirror.view().users.map((u) => u.userId)).toEqual(['ana', 'ben']);
    expect(mirror.applyPresence([user('ana')], 5)).toBe(true);
  });

  it('keeps the highest seq per message type, not across types', () => {
    const mirror = joinedMirror();
    mirror.applyPresence([user('ana')], 9);
    expect(
      mirror.applySelection({ type: 'selection_state', selected: { p: ['ana'] }, seq: 3 }),
    ).not.toBeNull();
    expect(mirror.applySelection({ type: 'selection_state', selected: {}, seq: 2 })).toBeNull();
    expect([...mirror.view().selections.keys()]).toEqual(['p']);
    expect(mirror.applyViewerCameras('p', { ben: { position: [1, 1, 1] } }, 4)).toBe(true);
    expect(mirror.applyViewerCameras('p', {}, 3)).toBe(false);
    expect(mirror.view().cameras.get('p')?.size).toBe(1);
  });

  it('accepts any seq again after a reconnect, since a new server counts from scratch', () => {
    const mirror = joinedMirror();
    mirror.applyPresence([user('ana')], 40);
    mirror.resetSeq();
    expect(mirror.applyPresence([user('ana'), user('ben')], 1)).toBe(true);
  });

  it('loses our lock when a selection_state no longer lists us on its planet', () => {
    const mirror = joinedMirror();
    mirror.setLock({ planetId: 'p', expiresAt: 10, fence: 1 });
    expect(mirror.applySelection({ type: 'selection_state', selected: { p: ['ana'] }, seq: 1 })).toEqual({
      lockLost: false,
    });
    expect(mirror.applySelection({ type: 'selection_state', selected: { p: ['ben'] }, seq: 2 })).toEqual({
      lockLost: true,
    });
    expect(mirror.view().lock).toBeNull();
  });

  it("keeps another user's expiry learned from a conflict only while that user holds the planet", () => {
    const mirror = joinedMirror();
    mirror.applySelection({ type: 'selection_state', selected: { p: ['ben'] }, seq: 1 });
    mirror.learnExpiry('p', 'ben', 1234);
    expect(mirror.view().selections.get('p')).toEqual({ planetId: 'p', userIds: ['ben'], expiresAt: 1234 });
    mirror.applySelection({ type: 'selection_state', selected: { p: ['cy'] }, seq: 2 });
    expect(mirror.view().selections.get('p')?.expiresAt).toBeUndefined();
  });

  it('keeps cameras only for viewed planets, and a relay updates one viewer', () => {
    const mirror = joinedMirror();
    expect(mirror.applyRelay('p', 'ben', { position: [0, 0, 0] })).toBe(false);
    mirror.addViewing('p');
    expect(mirror.applyRelay('p', 'ben', { position: [1, 0, 0] })).toBe(true);
    expect(mirror.view().cameras.get('p')?.get('ben')).toEqual({ position: [1, 0, 0] });
    mirror.removeViewing('p');
    expect(mirror.view().cameras.has('p')).toBe(false);
  });

  it('takes the viewed planets of a join ack as the truth', () => {
    const mirror = joinedMirror();
    mirror.addViewing('a');
    mirror.addViewing('b');
    mirror.joined('room', 'ana', { planetId: 'a', expiresAt: 5 }, ['a']);
    expect([...mirror.view().viewing]).toEqual(['a']);
    expect(mirror.view().lock).toEqual({ planetId: 'a', expiresAt: 5 });
  });
});
