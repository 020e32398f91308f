// Every send without an answer, in the order it was made ("Keep an outbox"
// in docs/protocol.md): re-sent with its id whenever a connection opens,
// dropped on `sent` or on a final `error`.

export class Outbox {
  constructor() {
    /** @type {Map<string, {id: string, to: object, body: string, resolve?: Function, reject?: Function, retries: number, timer?: any}>} */
    this.entries = new Map();
  }

  get size() {
    return this.entries.size;
  }

  has(id) {
    return this.entries.has(id);
  }

  get(id) {
    return this.entries.get(id);
  }

  /** Adds a send (kept at its first place if its id is already waiting). */
  add(entry) {
    const known = this.entries.get(entry.id);
    if (known) {
      known.resolve ??= entry.resolve;
      known.reject ??= entry.reject;
      return known;
    }
    const e = { retries: 0, ...entry };
    this.entries.set(e.id, e);
    return e;
  }

  /** Removes and returns the entry of `id`. */
  take(id) {
    const e = this.entries.get(id);
    if (!e) return undefined;
    clearTimeout(e.timer);
    this.entries.delete(id);
    return e;
  }

  /** The entries, oldest first. */
  list() {
    return [...this.entries.values()];
  }

  /** What to persist: `{id, to, body}` of each entry, oldest first. */
  toJSON() {
    return this.list().map(({ id, to, body }) => ({ id, to, body }));
  }

  clearTimers() {
    for (const e of this.entries.values()) {
      clearTimeout(e.timer);
      e.timer = undefined;
    }
  }
}
