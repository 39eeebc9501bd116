//! Strategy files and expressions through the public API.
#![expect(clippy::unwrap_used, reason = "test helpers")]

mod file;
mod props;
mod python;
mod sections;
