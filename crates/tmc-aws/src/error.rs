//! One error type for credentials and signing. Callers wrap it in their own error (the copilot
//! as a credentials or configuration error, the knowledge base as an embeddings error), so the
//! messages are written to stand on their own after such a prefix.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// Neither credentials in the environment lookup nor a place to look for the shared file
    /// (no `AWS_SHARED_CREDENTIALS_FILE` and no `HOME`).
    #[error(
        "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or a credentials file"
    )]
    NoCredentials,
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
    /// A URL without a host, which cannot be signed (SigV4 signs the `host` header).
    #[error("bad URL {0}")]
    BadUrl(String),
    /// `aws-sigv4` refused the parameters or the request (for example a malformed header).
    #[error("SigV4: {0}")]
    Signing(String),
}
