// A record keyed by ids (`selected`, `cameras` in server messages). valibot's `record` skips keys
// named `__proto__`, `constructor` and `prototype`, but those are valid ids (contract §2), so this one
// keeps every own key, checks it is an id, and builds a prototype-free output: a lookup of a missing
// id then yields undefined, never an Object.prototype member.
import * as v from 'valibot';
import { IdSchema } from './ids.js';

function isRecordInput(input: unknown): input is Record<string, unknown> {
  return typeof input === 'object' && input !== null && !Array.isArray(input);
}

function entryPath(input: Record<string, unknown>, key: string, origin: 'key' | 'value'): v.ObjectPathItem {
  return { type: 'object', origin, input, key, value: input[key] };
}

export function idRecord<const TValue extends v.GenericSchema>(valueSchema: TValue) {
  type Output = Record<string, v.InferOutput<TValue>>;
  return v.pipe(
    v.custom<Record<string, unknown>>(isRecordInput, 'expected an object'),
    v.rawTransform<Record<string, unknown>, Output>(({ dataset, config, addIssue, NEVER }) => {
      const input = dataset.value;
      const output: Output = Object.create(null);
      let failed = false;
      for (const key of Object.keys(input)) {
        if (!v.is(IdSchema, key)) {
          addIssue({ message: 'expected an id as key', input: key, path: [entryPath(input, key, 'key')] });
          failed = true;
        } else {
          const result = v.safeParse(valueSchema, input[key], { abortEarly: config.abortEarly === true });
          if (result.success) {
            output[key] = result.output;
          } else {
            for (const issue of result.issues) {
              addIssue({
                message: issue.message,
                input: issue.input,
                path: [entryPath(input, key, 'value'), ...(issue.path ?? [])],
              });
            }
            failed = true;
          }
        }
        if (failed && config.abortEarly) return NEVER;
      }
      return failed ? NEVER : output;
    }),
  );
}
