// The JavaScript SDK (clients/js, the npm package `@confab/client`), which
// the nodes serve at /sdk/. The page's one import of it: the other modules
// import from here.

export * from '/sdk/index.js';
