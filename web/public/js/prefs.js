// What the page remembers besides the conversations (chat.js keeps those):
//  - for the tab (sessionStorage, gone with the tab): the section and the
//    conversation that were open, and the unsent draft of each conversation,
//    so that a reload comes back to where the user was;
//  - for the user in this browser (localStorage): whether they turned
//    browser notifications on, and the conversations they muted.
// Keys carry the user id: another account in the same tab or browser
// starts clean. Storage that is full or refused only loses the memory.

const TAB_PREFIX = 'confab.v1.tab.';
const USER_PREFIX = 'confab.v1.prefs.';
const DRAFT_SAVE_MS = 300;
const MAX_DRAFT_CHARS = 100_000; // a pasted novel is not kept across reloads

function read(storage, key) {
  try {
    return JSON.parse(storage.getItem(key) || 'null');
  } catch {
    return null;
  }
}

function write(storage, key, value) {
  try {
    storage.setItem(key, JSON.stringify(value));
  } catch {
    // Full or refused: the page works on without the memory.
  }
}

/** The tab's memory for user `id`: {view, activeConv, drafts}. */
export class TabMemory {
  constructor(id, storage = window.sessionStorage) {
    this.key = TAB_PREFIX + id;
    this.storage = storage;
    const kept = read(storage, this.key) || {};
    this.view = typeof kept.view === 'string' ? kept.view : null;
    this.activeConv = typeof kept.activeConv === 'string' ? kept.activeConv : null;
    this.drafts = kept.drafts && typeof kept.drafts === 'object' ? kept.drafts : {};
    this.timer = null;
  }

  place(view, activeConv) {
    this.view = view;
    this.activeConv = activeConv;
    this.save();
  }

  draft(key) {
    return typeof this.drafts[key] === 'string' ? this.drafts[key] : '';
  }

  /** Keeps `text` as `key`'s draft (written shortly after the last keystroke). */
  setDraft(key, text) {
    if (text && text.length <= MAX_DRAFT_CHARS) this.drafts[key] = text;
    else delete this.drafts[key];
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.save(), DRAFT_SAVE_MS);
  }

  save() {
    clearTimeout(this.timer);
    this.timer = null;
    write(this.storage, this.key, { view: this.view, activeConv: this.activeConv, drafts: this.drafts });
  }

  forget() {
    clearTimeout(this.timer);
    this.storage.removeItem(this.key);
  }
}

/** The user's choices in this browser: {notify, muted}. */
export class UserPrefs {
  constructor(id, storage = window.localStorage) {
    this.key = USER_PREFIX + id;
    this.storage = storage;
    const kept = read(storage, this.key) || {};
    this.notify = kept.notify === true;
    this.muted = new Set(Array.isArray(kept.muted) ? kept.muted.filter((k) => typeof k === 'string') : []);
  }

  isMuted(key) {
    return this.muted.has(key);
  }

  setMuted(key, muted) {
    if (muted) this.muted.add(key);
    else this.muted.delete(key);
    this.save();
  }

  setNotify(on) {
    this.notify = on;
    this.save();
  }

  save() {
    write(this.storage, this.key, { notify: this.notify, muted: [...this.muted] });
  }
}
