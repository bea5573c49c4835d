// valibot → JSON Schema (draft-07) for the wire messages. Rules:
// - conversion runs with errorMode 'throw'. What the converter cannot express is overridden here,
//   matched by the identity of the exact schema or action object, so a new construct it cannot
//   convert stops the generation instead of silently loosening a schema;
// - client messages are described as the server accepts them, server messages as it sends them
//   (they differ only in `color`: any case in, lower case out);
// - the overrides, each as strict as JSON Schema allows:
//   `finite`: a JSON number is always finite, nothing to add;
//   `idRecord` (selection_state.selected, viewer_cameras.cameras): an object whose property names
//     are ids (`__proto__` included — JSON Schema has no prototype) and whose values are the record's;
//   name: 1–64 code points (JSON Schema's maxLength counts code points, as the `u` regex does) and
//     no control character (Cc: U+0000–U+001F, U+007F–U+009F);
//   avatarUrl's URL check: an http(s) scheme, any case, and no control character. Whether the rest
//     parses as a WHATWG URL is beyond JSON Schema; the description says so;
// - known gap: valibot's maxLength counts UTF-16 units, JSON Schema's counts code points, so a
//   string with astral characters may pass `rid`'s or avatarUrl's maxLength here and fail on the
//   server; for BMP text the two agree.
import {
  type ConversionConfig,
  type JsonSchema,
  toJsonSchema,
  toJsonSchemaDefs,
} from '@valibot/to-json-schema';
import type { GenericSchema } from 'valibot';
import {
  AvatarUrlSchema,
  CameraStateSchema,
  ColorSchema,
  IdSchema,
  NameSchema,
  SelectionStateMessageSchema,
  ViewerCamerasMessageSchema,
} from '../src/index.js';
import type { Direction } from './messages.js';

const NO_CONTROL = '[^\\u0000-\\u001F\\u007F-\\u009F]';
const COLOR_PATTERN: Record<Direction, string> = {
  client: '^#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$',
  server: '^#(?:[0-9a-f]{3}|[0-9a-f]{6})$',
};

type Context = Parameters<NonNullable<ConversionConfig['overrideAction']>>[0];
type SchemaContext = Parameters<NonNullable<ConversionConfig['overrideSchema']>>[0];
type ActionOverride = (context: Context) => JsonSchema;

// `pipe` items are typed as a union of tuples; indexing them by position names the exact object.
const selected = SelectionStateMessageSchema.entries.selected.pipe;
const cameras = ViewerCamerasMessageSchema.entries.cameras.pipe;

const keep: ActionOverride = ({ jsonSchema }) => jsonSchema;

function actionOverrides(direction: Direction): Map<unknown, ActionOverride> {
  return new Map<unknown, ActionOverride>([
    [
      NameSchema.pipe[1],
      ({ jsonSchema }) => ({ ...jsonSchema, minLength: 1, maxLength: 64, pattern: `^${NO_CONTROL}*$` }),
    ],
    [ColorSchema.pipe[1], ({ jsonSchema }) => ({ ...jsonSchema, pattern: COLOR_PATTERN[direction] })],
    [ColorSchema.pipe[2], keep],
    [
      AvatarUrlSchema.pipe[2],
      ({ jsonSchema }) => ({
        ...jsonSchema,
        pattern: `^ *[Hh][Tt][Tt][Pp][Ss]?:${NO_CONTROL}*$`,
        description: 'An http: or https: URL that a WHATWG URL parser accepts, at most 512 characters.',
      }),
    ],
    [selected[1], keep],
    [cameras[1], keep],
  ]);
}

export interface ConvertOptions {
  readonly direction: Direction;
  /** Where references to named schemas point: `${refPrefix}${name}`. */
  readonly refPrefix?: string;
}

export function conversionConfig(options: ConvertOptions): ConversionConfig {
  const overrides = actionOverrides(options.direction);
  const ref = (context: SchemaContext, schema: GenericSchema): JsonSchema => {
    const name = context.referenceMap.get(schema);
    if (name !== undefined) return { $ref: `${options.refPrefix ?? '#/$defs/'}${name}` };
    return withoutMeta(toJsonSchema(schema, conversionConfig({ direction: options.direction })));
  };
  const records = new Map<unknown, (context: SchemaContext) => JsonSchema>([
    [
      selected[0],
      (c) => ({
        type: 'object',
        propertyNames: ref(c, IdSchema),
        additionalProperties: { type: 'array', items: ref(c, IdSchema) },
      }),
    ],
    [
      cameras[0],
      (c) => ({
        type: 'object',
        propertyNames: ref(c, IdSchema),
        additionalProperties: ref(c, CameraStateSchema),
      }),
    ],
  ]);
  return {
    target: 'draft-07',
    errorMode: 'throw',
    ...(options.refPrefix === undefined
      ? {}
      : { overrideRef: (c) => `${options.refPrefix}${c.referenceId}` }),
    overrideAction: (context) => {
      if (context.valibotAction.type === 'finite') return context.jsonSchema;
      return overrides.get(context.valibotAction)?.(context);
    },
    overrideSchema: (context) => records.get(context.valibotSchema)?.(context),
  };
}

/** A self-contained JSON Schema document for one schema, everything inlined. */
export function standaloneSchema(
  schema: GenericSchema,
  direction: Direction,
  title: string,
  description: string,
): JsonSchema {
  const { $schema, ...rest } = toJsonSchema(schema, conversionConfig({ direction }));
  return { $schema, title, description, ...rest };
}

/** Named JSON Schemas that reference each other through `refPrefix`. */
export function namedSchemas(
  schemas: Record<string, GenericSchema>,
  direction: Direction,
  refPrefix: string,
): Record<string, JsonSchema> {
  return toJsonSchemaDefs(schemas, conversionConfig({ direction, refPrefix }));
}

function withoutMeta(schema: JsonSchema): JsonSchema {
  const { $schema: _schema, $defs: _defs, ...rest } = schema as JsonSchema & { $defs?: unknown };
  return rest;
}
