// The message ids a client already has, to drop repeats ("at least once, one
// msg_id"). Bounded: the oldest ids are forgotten first, which is safe
// because the server only repeats what the device has not acked, and acked
// ids are the old ones.

export class SeenIds {
  /** @param {number} [limit]  how many ids to keep */
  constructor(limit = 10_000) {
    this.limit = limit;
    /** @type {Set<string>} insertion-ordered */
    this.ids = new Set();
  }

  has(id) {
    return this.ids.has(id);
  }

  /** Remembers `id`; forgets the oldest ids beyond the limit. */
  add(id) {
    if (this.ids.has(id)) return;
    this.ids.add(id);
    if (this.ids.size <= this.limit) return;
    let drop = this.ids.size - this.limit;
    for (const old of this.ids) {
      if (drop-- <= 0) break;
      this.ids.delete(old);
    }
  }

  get size() {
    return this.ids.size;
  }

  /** The ids, oldest first (to persist them). */
  toArray() {
    return [...this.ids];
  }
}
