//! Key pool behaviour, through the public API, with in-memory state and a manual clock.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    reason = "helpers outside #[test] functions fail the test the same way"
)]

mod activity;
mod answers;
mod cluster;
mod degrade;
mod differential;
mod failover;
mod fixtures;
mod health;
mod init;
mod multikey;
mod multiprocess;
mod no_secrets;
mod owners;
mod props;
mod rate_limit;
mod selection;
mod tls;
