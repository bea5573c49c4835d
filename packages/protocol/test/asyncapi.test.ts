// docs/asyncapi.yaml is a valid AsyncAPI 3.0 document (@asyncapi/parser reports no error) that has
// one channel, a receive operation for every client message, a send operation for every server
// message, and a payload schema for each.
import { readFileSync } from 'node:fs';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import { describe, expect, it } from 'vitest';
import { MESSAGES } from '../scripts/messages.js';

const DOCUMENT = new URL('../../../docs/asyncapi.yaml', import.meta.url);
// Parsing runs the whole Spectral ruleset (about a second): once for the file.
const parsed = new Parser().parse(readFileSync(DOCUMENT, 'utf8'));

describe('docs/asyncapi.yaml', () => {
  it('parses as AsyncAPI 3.0.0 with zero errors', async () => {
    const { document, diagnostics } = await parsed;
    const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
    expect(errors.map((d) => `${d.path.join('.')}: ${d.message}`)).toEqual([]);
    expect(document?.version()).toBe('3.0.0');
  });

  it('has one channel carrying every message, each with its payload schema', async () => {
    const { document } = await parsed;
    const channels = document!.channels().all();
    expect(channels.map((c) => c.id())).toEqual(['room']);
    const messages = channels[0]!.messages().all();
    expect(messages.map((m) => m.id()).sort()).toEqual(MESSAGES.map((m) => m.id).sort());
    for (const message of messages) {
      const payload = message.payload();
      expect(payload?.type(), message.id()).toBe('object');
      const type = MESSAGES.find((m) => m.id === message.id())!.type;
      expect(payload?.properties()?.type?.const(), message.id()).toBe(type);
    }
  });

  it('receives every client message and sends every server message', async () => {
    const { document } = await parsed;
    const operations = document!.operations().all();
    const byMessage = new Map(operations.map((op) => [op.messages().all()[0]!.id(), op.action()] as const));
    for (const m of MESSAGES) {
      expect(byMessage.get(m.id), m.id).toBe(m.direction === 'client' ? 'receive' : 'send');
    }
    expect(operations).toHaveLength(MESSAGES.length);
  });

  it('declares the answers of every command but camera, conflict only for select', async () => {
    const { document } = await parsed;
    for (const op of document!.operations().all()) {
      const message = op.messages().all()[0]!.id();
      const replies =
        op
          .reply()
          ?.messages()
          .all()
          .map((m) => m.id()) ?? null;
      if (op.action() === 'send' || message === 'camera') expect(replies, message).toBeNull();
      else if (message === 'select') expect(replies).toEqual(['ack', 'conflict', 'error']);
      else expect(replies, message).toEqual(['ack', 'error']);
    }
  });
});
