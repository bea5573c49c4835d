// A binary min-heap of deadlines ordered by (at, priority, insertion order), so that deadlines
// due at one time pop in the contract's order (camera relays, lock expiries, grace ends, presence
// expiries) and ties pop first-in first-out: deterministic whatever the insertion pattern.

export interface HeapEntry {
  readonly at: number;
  readonly priority: number;
  order: number;
}

export class DeadlineHeap<T extends HeapEntry> {
  private readonly items: T[] = [];
  private counter = 0;

  get size(): number {
    return this.items.length;
  }

  /** Every entry, in no particular order. */
  entries(): readonly T[] {
    return this.items;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(entry: T): void {
    entry.order = this.counter++;
    const items = this.items;
    items.push(entry);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(entry, items[parent]!)) break;
      items[i] = items[parent]!;
      i = parent;
    }
    items[i] = entry;
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    const n = items.length;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      const child = right < n && before(items[right]!, items[left]!) ? right : left;
      if (!before(items[child]!, last)) break;
      items[i] = items[child]!;
      i = child;
    }
    items[i] = last;
    return top;
  }
}

function before(a: HeapEntry, b: HeapEntry): boolean {
  if (a.at !== b.at) return a.at < b.at;
  if (a.priority !== b.priority) return a.priority < b.priority;
  return a.order < b.order;
}
