// A typed event emitter. Rules: listeners run synchronously in the order they were added; `on`
// returns the function that removes the listener; a listener that throws does not stop the others
// or the client, and its error is rethrown asynchronously so it still surfaces (an unhandled rejection).

export class Emitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Set<(payload: never) => void>>();

  on<K extends keyof Events>(type: K, listener: (payload: Events[K]) => void): () => void {
    let set = this.listeners.get(type);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(type, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  emit<K extends keyof Events>(type: K, payload: Events[K]): void {
    const set = this.listeners.get(type);
    if (set === undefined) return;
    for (const listener of [...set]) {
      try {
        (listener as (payload: Events[K]) => void)(payload);
      } catch (err) {
        Promise.reject(err);
      }
    }
  }
}
