// Turns valibot's first issue into the wire error's `path` and `message` (contract §2: the message
// names the offending path), e.g. `camera.position[1]: expected a finite number` or
// `unknown key 'foo' at user`. Keys come from the sender, so in paths and messages they are escaped
// (no raw control characters in an error frame or a log line) and cut to 64 chars, bounding the size
// of an error a 16 KiB frame can provoke.
import type * as v from 'valibot';

const MAX_KEY_CHARS = 64;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

export function displayText(text: string): string {
  const cut = text.length > MAX_KEY_CHARS ? `${text.slice(0, MAX_KEY_CHARS)}…` : text;
  return JSON.stringify(cut).slice(1, -1);
}

function segment(key: unknown, first: boolean): string {
  if (typeof key === 'number') return `[${key}]`;
  if (typeof key === 'string' && key.length <= MAX_KEY_CHARS && IDENTIFIER.test(key)) {
    return first ? key : `.${key}`;
  }
  return `["${displayText(String(key))}"]`;
}

export function formatPath(items: readonly v.IssuePathItem[]): string {
  let path = '';
  for (const item of items) path += segment(item.key, path === '');
  return path;
}

function isUnknownKey(issue: v.BaseIssue<unknown>): boolean {
  return issue.type === 'strict_object' && issue.expected === 'never';
}

export interface DescribedIssue {
  path: string;
  message: string;
}

export function describeIssue(issue: v.BaseIssue<unknown>): DescribedIssue {
  const items = issue.path ?? [];
  const path = formatPath(items);
  if (isUnknownKey(issue)) {
    const key = `'${displayText(String(items.at(-1)?.key))}'`;
    const parent = formatPath(items.slice(0, -1));
    return { path, message: parent === '' ? `unknown key ${key}` : `unknown key ${key} at ${parent}` };
  }
  return { path, message: path === '' ? issue.message : `${path}: ${issue.message}` };
}
