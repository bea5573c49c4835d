// Object and tuple builders shared by every message. Rules (contract §2):
// - unknown keys are rejected everywhere (strict objects), including own keys named `__proto__` or
//   `constructor`, which valibot's strict check tests with hasOwnProperty;
// - tuples have exactly their length, an extra item is an issue at its index;
// - messages carry no path: the parser prefixes it, so one wording serves the SDK and the server.
import * as v from 'valibot';
import { displayText } from './issue-path.js';

function objectMessage(issue: v.StrictObjectIssue): string {
  if (issue.expected === 'Object') return 'expected an object';
  // Unknown keys report the key as the issue's input; a missing key's input is undefined.
  if (issue.expected === 'never') return `unknown key '${displayText(String(issue.input))}'`;
  return 'required key is missing';
}

export function strictShape<const TEntries extends v.ObjectEntries>(entries: TEntries) {
  return v.strictObject(entries, objectMessage);
}

export function fixedTuple<const TItems extends v.TupleItems>(items: TItems, what: string) {
  return v.strictTuple(items, (issue: v.StrictTupleIssue) =>
    issue.expected === 'never' ? `unexpected item: expected exactly ${what}` : `expected an array of ${what}`,
  );
}
