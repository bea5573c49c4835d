// The page's settings, from its query string: `server` (the daemon's ws:// URL, else the default the
// playground server put in the page), `room` (default lobby), `user` (default a random guest id, so
// two windows are two users), `name`, `color`, and `connect=0` to wait for the form instead of
// connecting at once.

export interface Settings {
  readonly serverUrl: string;
  readonly roomId: string;
  readonly userId: string;
  readonly name: string;
  readonly color: string;
  readonly autoConnect: boolean;
}

const PALETTE = ['#e4572e', '#29335c', '#f3a712', '#669bbc', '#a8c686', '#c3423f', '#8e7dbe', '#17bebb'];

export function readSettings(query: string, defaultUrl: string, random: () => number): Settings {
  const params = new URLSearchParams(query);
  const userId = params.get('user') || `guest-${Math.floor(random() * 36 ** 4).toString(36)}`;
  return {
    serverUrl: params.get('server') || defaultUrl,
    roomId: params.get('room') || 'lobby',
    userId,
    name: params.get('name') || userId,
    color: params.get('color') || colorFor(userId),
    autoConnect: params.get('connect') !== '0',
  };
}

/** A stable color per user id, for users who chose none. */
export function colorFor(userId: string): string {
  let hash = 0;
  for (const char of userId) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return PALETTE[hash % PALETTE.length]!;
}
