//! The Gemini client against recordings of the real service and, over real HTTP on loopback,
//! against the simulator.
#![expect(clippy::unwrap_used, clippy::panic, reason = "test helpers")]

mod classes;
mod conformance;
mod e2e;
mod harness;
mod shared;
mod wire;
