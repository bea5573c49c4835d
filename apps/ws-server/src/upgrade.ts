// Upgrade checks (CONTRACT §8), in this order: the Origin against ALLOWED_ORIGINS (403; a request
// without Origin is not a browser and passes), the process-wide connection cap (503), the per-IP
// cap (429; IPv6 counted per /64), then authentication (401). The client address is the socket's,
// or with TRUST_PROXY=n the n-th X-Forwarded-For entry from the right.

import type { IncomingMessage } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';

export interface Refusal {
  readonly status: 401 | 403 | 429 | 503;
  readonly reason: string;
}

export function checkOrigin(req: IncomingMessage, allowed: readonly string[] | null): Refusal | null {
  const origin = req.headers.origin;
  if (allowed === null || origin === undefined || allowed.includes(origin)) return null;
  return { status: 403, reason: 'origin not allowed' };
}

/** The address a connection is counted and logged under. */
export function clientAddress(req: IncomingMessage, trustProxy: number): string {
  const direct = req.socket.remoteAddress ?? 'unknown';
  if (trustProxy <= 0) return direct;
  const header = req.headers['x-forwarded-for'];
  const list = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((s) => s.trim());
  const entry = list.filter((s) => s !== '').at(-trustProxy);
  return entry !== undefined && (isIPv4(entry) || isIPv6(entry)) ? entry : direct;
}

/** The key an address is counted under for MAX_CONNECTIONS_PER_IP: IPv4 whole, IPv6 by its /64. */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!isIPv6(address)) return address;
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`;
}

function expandIPv6(address: string): string[] {
  const [head = '', tail = ''] = address.split('%')[0]!.split('::') as [string, string?];
  const left = head === '' ? [] : head.split(':');
  const right = tail === '' ? [] : tail.split(':');
  if (right.length > 0 && right.at(-1)!.includes('.')) {
    const [a, b, c, d] = right.pop()!.split('.').map(Number) as [number, number, number, number];
    right.push(((a << 8) | b).toString(16), ((c << 8) | d).toString(16));
  }
  const fill = address.includes('::') ? 8 - left.length - right.length : 0;
  return [...left, ...Array<string>(fill).fill('0'), ...right].map((h) =>
    Number.parseInt(h, 16).toString(16),
  );
}

/** Counts open connections per address key. */
export class AddressCounter {
  private readonly counts = new Map<string, number>();

  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  add(key: string): void {
    this.counts.set(key, this.count(key) + 1);
  }

  remove(key: string): void {
    const n = this.count(key) - 1;
    if (n <= 0) this.counts.delete(key);
    else this.counts.set(key, n);
  }
}
