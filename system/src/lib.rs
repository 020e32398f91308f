//! The system suite of Confab lives in `tests/it/`: it starts nodes and a
//! dispatcher in-process (each test with its own database, Redis key prefix
//! and queue prefix), talks to them over HTTP and WebSocket like a client,
//! and puts nginx in front where the gateway is what is tested. Tests of
//! what one crate does alone live in that crate (`node/src`,
//! `dispatcher/tests`, `common/src`). This library is empty: a package
//! needs one target besides its tests.
