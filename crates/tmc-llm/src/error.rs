//! One error type for the copilot, so the CLI can tell a refused endpoint (a policy decision)
//! from a network failure or an unusable answer and say which in one line.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum LlmError {
    /// The privacy policy refused the endpoint; raised before any connection is made.
    #[error("privacy policy `local-only` refuses endpoint {endpoint}: {reason}")]
    PrivacyRefused { endpoint: String, reason: String },
    #[error("configuration: {0}")]
    Config(String),
    #[error("credentials: {0}")]
    Credentials(String),
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// The provider answered with an HTTP error that retries did not cure.
    #[error("{provider} answered HTTP {status}: {message}")]
    Http {
        provider: String,
        status: u16,
        message: String,
    },
    /// The provider's envelope (not the model's text) could not be read.
    #[error("{provider} sent a response that is not in its API format: {message}")]
    Protocol { provider: String, message: String },
    /// An error the provider sent inside a 2xx streamed answer (Bedrock's `:exception-type`
    /// messages), after the HTTP status could no longer say so. `retryable` matches what the
    /// same error gets as an HTTP status (throttling and 5xx-class errors are retried).
    #[error("{provider} reported {exception} in the stream: {message}")]
    StreamException {
        provider: String,
        exception: String,
        message: String,
        retryable: bool,
    },
    /// The model's text was not a usable threat list, even after the repair round.
    #[error("the model's answer was unusable after one repair round: {0}")]
    Unusable(String),
    #[error("prompt template: {0}")]
    Template(String),
    #[error("audit log: {0}")]
    Audit(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Credential and signing failures keep their place among the copilot's errors: a URL that
/// cannot be signed is configuration, everything else (no credentials, unreadable file, a
/// refused signature) is a credentials problem.
impl From<tmc_aws::AwsError> for LlmError {
    fn from(e: tmc_aws::AwsError) -> Self {
        match e {
            tmc_aws::AwsError::BadUrl(_) => LlmError::Config(e.to_string()),
            _ => LlmError::Credentials(e.to_string()),
        }
    }
}

/// Network-level failures, kept apart so the retry loop can decide what is worth retrying.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TransportError {
    #[error("timed out after {0} ms")]
    Timeout(u128),
    #[error("could not connect: {0}")]
    Connect(String),
    #[error("{0}")]
    Other(String),
}
