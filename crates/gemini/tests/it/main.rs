//! The Gemini client against recordings of the real service and over HTTP.
#![expect(clippy::unwrap_used, clippy::panic, reason = "test helpers")]

mod conformance;
