//! The generator: the offline compiler's vocabulary, the LLM repair loop, atomic writes.
#![expect(clippy::unwrap_used, clippy::panic, reason = "test helpers")]

mod corpus;
mod llm;
mod offline;
mod persist;
