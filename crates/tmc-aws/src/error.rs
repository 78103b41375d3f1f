//! One error type for credentials and signing. Callers wrap it in their own error (the copilot
//! as a credentials or configuration error, the knowledge base as an embeddings error), so the
//! messages are written to stand on their own after such a prefix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// No source of the chain had credentials; `tried` says, one line per source, what was
    /// looked at and why it gave nothing (on a laptop without a role, the last line is the
    /// instance-metadata endpoint that did not answer).
    #[error(
        "no AWS credentials (tried {}); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, add a profile to the shared credentials file, or run with a container or instance role",
        tried.join("; ")
    )]
    NoCredentials { tried: Vec<String> },
    /// A profile was chosen by name, but there is no place to look for the shared file (no
    /// `AWS_SHARED_CREDENTIALS_FILE` and no `HOME`).
    #[error(
        "profile [{profile}] was asked for, but neither AWS_SHARED_CREDENTIALS_FILE nor HOME is set to find the credentials file"
    )]
    NoCredentialsFile { profile: String },
    /// The shared credentials file could not be read; the path says which file was tried, since
    /// it may come from `AWS_SHARED_CREDENTIALS_FILE` or `HOME`.
    #[error(
        "no AWS credentials in the environment and {} is unreadable ({source})",
        path.display()
    )]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The profile is absent from the file or lacks the key id or the secret.
    #[error(
        "profile [{profile}] in {} has no aws_access_key_id/aws_secret_access_key",
        path.display()
    )]
    IncompleteProfile { profile: String, path: PathBuf },
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` names an endpoint that may not receive the
    /// authorization token (see `reason`); refused before any connection.
    #[error("AWS_CONTAINER_CREDENTIALS_FULL_URI {url} is refused: {reason}")]
    ContainerEndpoint { url: String, reason: String },
    /// The configured container credentials endpoint did not give credentials (unreachable,
    /// an HTTP error, a malformed answer). Not a reason to try instance metadata: the runtime
    /// said where the credentials are.
    #[error("container credentials from {url}: {reason}")]
    Container { url: String, reason: String },
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` could not be read.
    #[error(
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE {} is unreadable ({source})",
        path.display()
    )]
    TokenFile {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A URL without a host, which cannot be signed (SigV4 signs the `host` header).
    #[error("bad URL {0}")]
    BadUrl(String),
    /// `aws-sigv4` refused the parameters or the request (for example a malformed header).
    #[error("SigV4: {0}")]
    Signing(String),
}
