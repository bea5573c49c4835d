import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nearValidTextArb, validMessageArb } from '../test/arbitraries.js';
import { type ParseResult, parseClientMessage, parseClientValue } from './parse.js';

const CODES = ['BAD_JSON', 'BAD_MESSAGE', 'UNKNOWN_TYPE'];

/** The parser's promise for any input: an error with one of its codes, or a message stable under re-parsing. */
function expectWellFormed(result: ParseResult): void {
  if (result.ok) {
    expect(parseClientMessage(JSON.stringify(result.message))).toStrictEqual(result);
  } else {
    expect(CODES).toContain(result.error.code);
    expect(typeof result.error.message).toBe('string');
    expect(typeof result.error.path).toBe('string');
  }
}

// Any UTF-16 sequence, lone surrogates included.
const utf16Arb = fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)) });

describe('parser properties', () => {
  it('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), utf16Arb), (text) => {
        expectWellFormed(parseClientMessage(text));
      }),
    );
  });

  it('never throws on arbitrary JSON text', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        expectWellFormed(parseClientMessage(text));
      }),
    );
  });

  it('never throws on arbitrary JSON values', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        expectWellFormed(parseClientValue(value));
      }),
    );
  });

  it('never throws on arbitrary JavaScript values', () => {
    fc.assert(
      fc.property(
        fc.anything({ withNullPrototype: true, withMap: true, withSet: true, withBigInt: true }),
        (value) => {
          const result = parseClientValue(value);
          if (!result.ok) expect(CODES).toContain(result.error.code);
        },
      ),
    );
  });

  it('never throws on valid messages with one field changed, removed or added', () => {
    fc.assert(
      fc.property(nearValidTextArb, (text) => {
        expectWellFormed(parseClientMessage(text));
      }),
      { numRuns: 500 },
    );
  });

  it('accepts every valid message and round-trips it through JSON', () => {
    fc.assert(
      fc.property(validMessageArb, ({ input, expected }) => {
        const first = parseClientMessage(JSON.stringify(input));
        expect(first).toStrictEqual({ ok: true, message: expected });
        expect(parseClientMessage(JSON.stringify(expected))).toStrictEqual(first);
      }),
      { numRuns: 500 },
    );
  });

  it('reports the type exactly when the input is an object with a string type', () => {
    fc.assert(
      fc.property(fc.oneof(fc.json(), nearValidTextArb), (text) => {
        const result = parseClientMessage(text);
        if (result.ok) return;
        let value: unknown;
        try {
          value = JSON.parse(text);
        } catch {
          expect(result.error).not.toHaveProperty('type');
          return;
        }
        const hasStringType =
          typeof value === 'object' &&
          value !== null &&
          !Array.isArray(value) &&
          typeof (value as { type?: unknown }).type === 'string';
        expect('type' in result.error).toBe(hasStringType);
      }),
      { numRuns: 300 },
    );
  });
});
