import { describe, expect, it } from 'vitest';
import { colorFor, readSettings } from './settings.js';

describe('readSettings', () => {
  it('reads the server, room and user from the query string', () => {
    const s = readSettings('?server=ws://h:1&room=r&user=ana&name=Ana&color=%23abc', 'ws://d', () => 0);
    expect(s).toEqual({
      serverUrl: 'ws://h:1',
      roomId: 'r',
      userId: 'ana',
      name: 'Ana',
      color: '#abc',
      autoConnect: true,
    });
  });

  it('defaults to the page default URL, the lobby and a random guest with a stable color', () => {
    const s = readSettings('', 'ws://localhost:8080', () => 0.5);
    expect(s).toMatchObject({ serverUrl: 'ws://localhost:8080', roomId: 'lobby', userId: 'guest-i000' });
    expect(s.name).toBe(s.userId);
    expect(s.color).toBe(colorFor(s.userId));
    expect(colorFor('ana')).toMatch(/^#[0-9a-f]{6}$/);
  });

  it('waits for the form with connect=0', () => {
    expect(readSettings('connect=0', 'ws://d', Math.random).autoConnect).toBe(false);
  });
});
