// Identifiers, request ids and resume tokens. Rules (contract §2, §4):
// - roomId, planetId and userId are 1–128 chars of [A-Za-z0-9._:@-]; every such string is valid,
//   `__proto__` and `constructor` included, so consumers keep ids in Maps or prototype-free objects;
// - `rid` is a string of at most 64 chars (UTF-16 units) or a safe integer, echoed back verbatim;
// - a resume token is an opaque string of 1–256 chars: the server mints it, the client hands it back.
import * as v from 'valibot';

export const ID_PATTERN = /^[A-Za-z0-9._:@-]{1,128}$/;
const ID = 'expected an id: 1–128 characters of A-Z a-z 0-9 . _ : @ -';

export const IdSchema = v.pipe(v.string(ID), v.regex(ID_PATTERN, ID));

const RID = 'expected a string of at most 64 characters or a safe integer';

export const RidSchema = v.union(
  [v.pipe(v.string(RID), v.maxLength(64, RID)), v.pipe(v.number(RID), v.safeInteger(RID))],
  RID,
);
export type Rid = v.InferOutput<typeof RidSchema>;

const RESUME_TOKEN = 'expected a token of 1–256 characters';
export const ResumeTokenSchema = v.pipe(
  v.string(RESUME_TOKEN),
  v.minLength(1, RESUME_TOKEN),
  v.maxLength(256, RESUME_TOKEN),
);
