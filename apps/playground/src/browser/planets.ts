// The planets the playground offers to lock and view: a fixed catalogue, the same in every window.

export interface Planet {
  readonly id: string;
  readonly name: string;
  readonly color: string;
}

export const PLANETS: readonly Planet[] = [
  { id: 'kepler-22b', name: 'Kepler-22b', color: '#4f86c6' },
  { id: 'trappist-1e', name: 'TRAPPIST-1e', color: '#c65f4f' },
  { id: 'proxima-b', name: 'Proxima b', color: '#b08d57' },
  { id: 'toi-700d', name: 'TOI-700 d', color: '#5fa36b' },
  { id: 'gliese-667cc', name: 'Gliese 667 Cc', color: '#9a6fb0' },
  { id: 'kepler-452b', name: 'Kepler-452b', color: '#d1a03f' },
];

export function planetName(id: string): string {
  return PLANETS.find((p) => p.id === id)?.name ?? id;
}
