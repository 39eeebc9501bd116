//! The one mapping from errors to exit codes (DESIGN.md §4), used by every subcommand.
//!
//! - 0: success (and `--help`, `--version`).
//! - 1: the user can fix it: a usage error (bad flag, bad value), a file that does not parse or
//!   validate, a configuration mistake (a variable, `keys.json`, a secret that is missing or not
//!   readable with the credentials given), nothing configured for a command that needs keys, an
//!   idea that cannot be expressed, a request upstream refused as malformed.
//! - 2: the outside failed: the Gemini API, the key pool (every key busy or broken), the
//!   network, an unreachable secret store or gateway.

use std::process::ExitCode;

use keypool::{ConfigError, PoolError};

/// The user can fix it.
pub const USER: u8 = 1;
/// Upstream, the pool, the network or a store is failing.
pub const UPSTREAM: u8 = 2;

/// Why a command failed, as the exit code says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Exit 1.
    User,
    /// Exit 2.
    Upstream,
}

impl Class {
    /// The exit code.
    pub fn code(self) -> u8 {
        match self {
            Class::User => USER,
            Class::Upstream => UPSTREAM,
        }
    }
}

impl From<Class> for ExitCode {
    fn from(c: Class) -> Self {
        ExitCode::from(c.code())
    }
}

/// A mistake in the command's input (exit code 1), with the message that says what to do.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The class of one error in a chain, when this layer decides it.
fn decide(e: &(dyn std::error::Error + 'static)) -> Option<Class> {
    use Class::{Upstream, User};
    if e.is::<UsageError>()
        || e.is::<ConfigError>()
        || e.is::<gemini_sim::ConfigError>()
        || e.is::<std::net::AddrParseError>()
        || e.is::<backtest::DataError>()
        || e.is::<backtest::sweep::SweepError>()
        || e.is::<backtest::portfolio::PortfolioError>()
        || e.is::<strategy::StrategyError>()
        || e.is::<toml::de::Error>()
    {
        return Some(User);
    }
    if let Some(p) = e.downcast_ref::<paper::PaperError>() {
        return Some(if p.is_upstream() { Upstream } else { User });
    }
    if let Some(f) = e.downcast_ref::<feeds::FeedError>() {
        return Some(match f {
            feeds::FeedError::Unreachable { .. } | feeds::FeedError::Protocol { .. } => Upstream,
            _ => User,
        });
    }
    if let Some(s) = e.downcast_ref::<secrets::SecretsError>() {
        return Some(match s {
            // The store answered, and what it said is about the user's settings.
            secrets::SecretsError::Config(_)
            | secrets::SecretsError::Denied { .. }
            | secrets::SecretsError::Missing { .. } => User,
            _ => Upstream,
        });
    }
    if let Some(g) = e.downcast_ref::<generator::GenerateError>() {
        return Some(if g.is_user_error() { User } else { Upstream });
    }
    if let Some(p) = e.downcast_ref::<PoolError>() {
        return Some(match p {
            PoolError::UnknownModel { .. }
            | PoolError::UnknownKeyId { .. }
            | PoolError::TooLarge { .. } => User,
            _ => Upstream,
        });
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        use std::io::ErrorKind as K;
        return match io.kind() {
            K::NotFound
            | K::PermissionDenied
            | K::AlreadyExists
            | K::InvalidInput
            | K::IsADirectory
            | K::NotADirectory
            | K::ReadOnlyFilesystem
            | K::InvalidData
            // `--bind` an address in use or not on this machine.
            | K::AddrInUse
            | K::AddrNotAvailable => Some(User),
            _ => None,
        };
    }
    None
}

/// The class of an error: the outermost layer of its chain that decides, else upstream.
pub fn classify(err: &anyhow::Error) -> Class {
    err.chain().find_map(decide).unwrap_or(Class::Upstream)
}

/// The exit code for a clap error: `--help` and `--version` are successes, every usage
/// mistake is the user's (1), never clap's default 2, which scripts read as an outage.
pub fn clap_code(e: &clap::Error) -> u8 {
    if e.exit_code() == 0 { 0 } else { USER }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Args {
        #[arg(long)]
        data: String,
    }

    #[test]
    fn usage_mistakes_exit_1_and_help_exits_0() {
        let missing = Args::try_parse_from(["x"]).unwrap_err();
        assert_eq!(clap_code(&missing), USER);
        let unknown = Args::try_parse_from(["x", "--data", "a", "--nope"]).unwrap_err();
        assert_eq!(clap_code(&unknown), USER);
        let help = Args::try_parse_from(["x", "--help"]).unwrap_err();
        assert_eq!(clap_code(&help), 0);
    }

    #[test]
    fn the_outermost_deciding_layer_wins() {
        let denied = anyhow::Error::new(secrets::SecretsError::Denied {
            store: "vault",
            secret: "secret/botforge/gemini".into(),
            hint: "grant read".into(),
        });
        assert_eq!(classify(&denied), Class::User);
        let down = anyhow::Error::new(secrets::SecretsError::Unreachable {
            store: "vault",
            address: "http://127.0.0.1:1".into(),
            detail: "refused".into(),
            hint: "VAULT_ADDR",
        });
        assert_eq!(classify(&down.context("reading keys")), Class::Upstream);
        let usage = anyhow::Error::new(UsageError("--cash -5: must be positive".into()));
        assert_eq!(classify(&usage), Class::User);
        assert_eq!(classify(&anyhow::anyhow!("something odd")), Class::Upstream);
        let invalid = anyhow::Error::new(generator::GenerateError::Invalid {
            attempts: 3,
            errors: vec!["bad".into()],
        });
        assert_eq!(classify(&invalid), Class::User);
    }
}
