// The AsyncAPI 3.0 document of the protocol. Rules:
// - it describes the server: `receive` operations are the frames clients send, `send` operations the
//   frames the server sends; one channel, the WebSocket (any path; `/` documented);
// - every command but `camera` declares its reply (ack, conflict for select, error), as CONTRACT §3
//   promises exactly one answer;
// - payloads are components converted from the valibot schemas (json-schema.ts); the shapes used by
//   several messages are components of their own, referenced, never copied.
import type { JsonSchema } from '@valibot/to-json-schema';
import { namedSchemas } from './json-schema.js';
import { type Direction, MESSAGES, type MessageSpec, SHARED_COMPONENTS } from './messages.js';

const CHANNEL = 'room';
const SCHEMA_REF = '#/components/schemas/';

/** The schemas of every component, client and server shapes merged (shared ones must agree). */
export function componentSchemas(): Record<string, JsonSchema> {
  const merged: Record<string, JsonSchema> = {};
  for (const direction of ['client', 'server'] as const satisfies readonly Direction[]) {
    const named = { ...SHARED_COMPONENTS[direction] };
    for (const m of MESSAGES) if (m.direction === direction) named[m.component] = m.schema;
    for (const [name, schema] of Object.entries(namedSchemas(named, direction, SCHEMA_REF))) {
      const known = merged[name];
      if (known !== undefined && JSON.stringify(known) !== JSON.stringify(schema)) {
        throw new Error(`component ${name} differs between client and server messages`);
      }
      merged[name] = schema;
    }
  }
  return Object.fromEntries(Object.entries(merged).sort(([a], [b]) => a.localeCompare(b)));
}

const operationId = (m: MessageSpec) =>
  `${m.direction === 'client' ? 'receive' : 'send'}${m.id
    .split('_')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('')}`;

const messageRef = (id: string) => ({ $ref: `#/channels/${CHANNEL}/messages/${id}` });

function replyIds(m: MessageSpec): string[] | null {
  if (m.direction !== 'client' || m.type === 'camera') return null;
  return m.type === 'select' ? ['ack', 'conflict', 'error'] : ['ack', 'error'];
}

function operation(m: MessageSpec) {
  const replies = replyIds(m);
  return {
    action: m.direction === 'client' ? 'receive' : 'send',
    channel: { $ref: `#/channels/${CHANNEL}` },
    summary: m.summary,
    messages: [messageRef(m.id)],
    ...(replies === null
      ? {}
      : { reply: { channel: { $ref: `#/channels/${CHANNEL}` }, messages: replies.map(messageRef) } }),
  };
}

export function asyncApiDocument(version: string): Record<string, unknown> {
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Exo realtime',
      version,
      description:
        'The realtime room protocol of ExoArchive Pocket: rooms, presence, planet locks and camera sync ' +
        'over one WebSocket, one JSON object per text frame. This document describes the server: ' +
        '`receive` operations are the frames a client sends, `send` operations the frames the server ' +
        'sends. Generated from the valibot schemas of @exo/protocol by `pnpm gen:protocol`; ' +
        'docs/protocol.md has the rules (ordering, limits, timing).',
    },
    defaultContentType: 'application/json',
    servers: {
      local: {
        host: 'localhost:8080',
        protocol: 'ws',
        description: 'The daemon on its default WS_PORT. Offer the subprotocol exo.v1.',
      },
    },
    channels: {
      [CHANNEL]: {
        address: '/',
        title: 'The WebSocket',
        description:
          'Any request path is accepted. With auth on, pass the JWT as ?token= or as the subprotocol ' +
          'exo.auth.<token> next to exo.v1.',
        messages: Object.fromEntries(MESSAGES.map((m) => [m.id, { $ref: `#/components/messages/${m.id}` }])),
        bindings: {
          ws: {
            bindingVersion: '0.1.0',
            query: {
              type: 'object',
              properties: { token: { type: 'string', description: 'A JWT, when the server verifies them.' } },
            },
          },
        },
      },
    },
    operations: Object.fromEntries(MESSAGES.map((m) => [operationId(m), operation(m)])),
    components: {
      schemas: componentSchemas(),
      messages: Object.fromEntries(
        MESSAGES.map((m) => [
          m.id,
          {
            name: m.id,
            title: `${m.type} (${m.direction === 'client' ? 'client → server' : 'server → client'})`,
            summary: m.summary,
            contentType: 'application/json',
            payload: { $ref: `${SCHEMA_REF}${m.component}` },
          },
        ]),
      ),
    },
  };
}
