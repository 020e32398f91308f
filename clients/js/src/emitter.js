// A small event emitter: `on` returns the function that removes the handler.

export class Emitter {
  constructor() {
    /** @type {Map<string, Set<Function>>} */
    this.handlers = new Map();
  }

  /** Calls `fn` for every `type` event; returns the function that stops it. */
  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    return () => this.handlers.get(type)?.delete(fn);
  }

  /** Calls `fn` for the next `type` event only. */
  once(type, fn) {
    const off = this.on(type, (value) => {
      off();
      return fn(value);
    });
    return off;
  }

  /** Calls the handlers; resolves when every one has (a rejection is reported, not thrown). */
  emit(type, value) {
    const handlers = this.handlers.get(type);
    if (!handlers || handlers.size === 0) return [];
    return [...handlers].map((fn) => {
      try {
        return Promise.resolve(fn(value));
      } catch (e) {
        return Promise.reject(e);
      }
    });
  }
}
