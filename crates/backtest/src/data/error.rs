//! The error of reading a data file: which file, which line, what to fix.

/// A problem with a data file, naming the file and the line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file cannot be read.
    #[error("{file}: cannot read")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A row or the header is wrong.
    #[error("{file}:{line}: {message}")]
    Bad {
        /// The file.
        file: String,
        /// 1-based line.
        line: u64,
        /// What is wrong and what to fix.
        message: String,
    },
}
