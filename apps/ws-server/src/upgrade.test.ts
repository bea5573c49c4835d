// The pure parts of the upgrade checks (CONTRACT §8): the key a connection is counted under for
// MAX_CONNECTIONS_PER_IP (IPv4 whole, IPv6 by its /64, IPv4-mapped IPv6 as the IPv4 address), the
// client address with TRUST_PROXY=n (the n-th X-Forwarded-For entry from the right), and the
// ALLOWED_ORIGINS check (exact origins; no Origin header passes).

import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { AddressCounter, addressKey, checkOrigin, clientAddress } from './upgrade.js';

function request(headers: Record<string, string | string[]>, remoteAddress = '10.0.0.1'): IncomingMessage {
  return { headers, socket: { remoteAddress } } as unknown as IncomingMessage;
}

describe('addressKey', () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['127.0.0.1', '127.0.0.1'],
  ])('counts the IPv4 address %s whole', (address, key) => {
    expect(addressKey(address)).toBe(key);
  });

  it.each([
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['::FFFF:203.0.113.7', '203.0.113.7'],
  ])('counts the IPv4-mapped address %s as its IPv4 address', (address, key) => {
    expect(addressKey(address)).toBe(key);
  });

  it('counts every address of one IPv6 /64 under one key, however it is written', () => {
    const keys = [
      '2001:db8:1:2:3:4:5:6',
      '2001:db8:1:2::9',
      '2001:0db8:0001:0002:ffff:ffff:ffff:ffff',
      '2001:DB8:1:2::1',
      '2001:db8:1:2::',
      '2001:db8:1:2:0:0:1.2.3.4',
    ].map(addressKey);
    expect(new Set(keys)).toEqual(new Set(['2001:db8:1:2::/64']));
  });

  it.each([
    ['2001:db8:1:3::1', '2001:db8:1:3::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::198.51.100.1', '64:ff9b:0:0::/64'],
  ])('counts %s under %s', (address, key) => {
    expect(addressKey(address)).toBe(key);
  });

  it('keeps a value that is no IP address as it is', () => {
    expect(addressKey('unknown')).toBe('unknown');
  });
});

describe('clientAddress', () => {
  const forwarded = { 'x-forwarded-for': '198.51.100.1, 203.0.113.5,192.0.2.9' };

  it("uses the socket's address and ignores X-Forwarded-For when TRUST_PROXY is 0", () => {
    expect(clientAddress(request(forwarded), 0)).toBe('10.0.0.1');
  });

  it.each([
    [1, '192.0.2.9'],
    [2, '203.0.113.5'],
    [3, '198.51.100.1'],
  ])('with TRUST_PROXY=%i takes the entry that many from the right', (trust, address) => {
    expect(clientAddress(request(forwarded), trust)).toBe(address);
  });

  it("falls back to the socket's address when there are fewer entries than trusted proxies", () => {
    expect(clientAddress(request(forwarded), 4)).toBe('10.0.0.1');
  });

  it("falls back to the socket's address without an X-Forwarded-For header", () => {
    expect(clientAddress(request({}), 1)).toBe('10.0.0.1');
  });

  it("falls back to the socket's address when the chosen entry is not an IP address", () => {
    expect(clientAddress(request({ 'x-forwarded-for': '198.51.100.1, unknown' }), 1)).toBe('10.0.0.1');
    expect(clientAddress(request({ 'x-forwarded-for': '198.51.100.1, 1.2.3.4:5678' }), 1)).toBe('10.0.0.1');
  });

  it('skips empty entries and reads repeated headers as one list', () => {
    expect(clientAddress(request({ 'x-forwarded-for': '198.51.100.1,, 203.0.113.5 ,' }), 2)).toBe(
      '198.51.100.1',
    );
    expect(clientAddress(request({ 'x-forwarded-for': ['198.51.100.1', '203.0.113.5'] }), 2)).toBe(
      '198.51.100.1',
    );
  });

  it('accepts an IPv6 entry', () => {
    expect(clientAddress(request({ 'x-forwarded-for': '2001:db8::7' }), 1)).toBe('2001:db8::7');
  });

  it('cannot be spoofed by a client prepending entries beyond the trusted proxies', () => {
    // The client wrote 1.1.1.1; the one trusted proxy appended the address it saw.
    expect(clientAddress(request({ 'x-forwarded-for': '1.1.1.1, 203.0.113.5' }), 1)).toBe('203.0.113.5');
  });
});

describe('checkOrigin', () => {
  const allowed = ['https://app.example.com', 'http://localhost:5173'];
  const forbidden = { status: 403, reason: 'origin not allowed' };

  it('lets any origin through when ALLOWED_ORIGINS is unset', () => {
    expect(checkOrigin(request({ origin: 'https://evil.example' }), null)).toBeNull();
  });

  it('lets a request without Origin through: it is not from a browser', () => {
    expect(checkOrigin(request({}), allowed)).toBeNull();
  });

  it.each(allowed)('lets the listed origin %s through', (origin) => {
    expect(checkOrigin(request({ origin }), allowed)).toBeNull();
  });

  it.each([
    'https://evil.example',
    'http://app.example.com',
    'https://app.example.com:8443',
    'http://localhost:5174',
    'https://sub.app.example.com',
    'null',
  ])('refuses %s with 403', (origin) => {
    expect(checkOrigin(request({ origin }), allowed)).toEqual(forbidden);
  });

  it('refuses every origin when the list is empty', () => {
    expect(checkOrigin(request({ origin: 'https://app.example.com' }), [])).toEqual(forbidden);
  });
});

describe('AddressCounter', () => {
  it('counts per key and forgets a key whose count returns to zero', () => {
    const counter = new AddressCounter();
    counter.add('a');
    counter.add('a');
    counter.add('b');
    expect([counter.count('a'), counter.count('b'), counter.count('c')]).toEqual([2, 1, 0]);
    counter.remove('a');
    counter.remove('a');
    counter.remove('a');
    expect(counter.count('a')).toBe(0);
    counter.add('a');
    expect(counter.count('a')).toBe(1);
  });
});
