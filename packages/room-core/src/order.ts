// One ordering of identifiers for every list the core emits: UTF-16 code units, the same in
// every JavaScript engine and independent of locale.

export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
