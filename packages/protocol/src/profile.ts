// The user's profile as a client sends it (the seed's UserPresence). Rules (contract §2):
// - name: 1–64 Unicode code points (an astral character counts once), no control characters (Cc);
// - color: `#rgb` or `#rrggbb`, any case in, lower case out, so every client sees one spelling;
// - avatarUrl: at most 512 chars, an http: or https: URL that `new URL` accepts. Control characters
//   are refused too: `new URL` silently strips them, and the string is echoed to other clients as sent.
import * as v from 'valibot';
import { IdSchema } from './ids.js';
import { strictShape } from './shapes.js';

const NAME = 'expected 1–64 characters without control characters';
// The `u` flag makes the quantifier count code points, not UTF-16 units.
const NAME_PATTERN = /^[^\p{Cc}]{1,64}$/u;
export const NameSchema = v.pipe(v.string(NAME), v.regex(NAME_PATTERN, NAME));

const COLOR = 'expected a color #rgb or #rrggbb';
export const ColorSchema = v.pipe(
  v.string(COLOR),
  v.regex(/^#(?:[0-9a-f]{3}|[0-9a-f]{6})$/i, COLOR),
  v.toLowerCase(),
);

// WHATWG URL is a global in browsers and Node alike, but this package builds with neither the DOM nor
// the Node typings, so it declares the one member it reads.
declare const URL: new (input: string) => { readonly protocol: string };

const AVATAR_URL = 'expected an http: or https: URL of at most 512 characters';
const CONTROL = /\p{Cc}/u;

function isHttpUrl(input: string): boolean {
  if (CONTROL.test(input)) return false;
  let url: { readonly protocol: string };
  try {
    url = new URL(input);
  } catch {
    // A string the WHATWG parser refuses is not a URL; that is the answer, not a failure.
    return false;
  }
  return url.protocol === 'http:' || url.protocol === 'https:';
}

export const AvatarUrlSchema = v.pipe(
  v.string(AVATAR_URL),
  v.maxLength(512, AVATAR_URL),
  v.check(isHttpUrl, AVATAR_URL),
);

export const UserProfileSchema = strictShape({
  userId: IdSchema,
  name: v.exactOptional(NameSchema),
  color: v.exactOptional(ColorSchema),
  avatarUrl: v.exactOptional(AvatarUrlSchema),
});
export type UserProfile = v.InferOutput<typeof UserProfileSchema>;
