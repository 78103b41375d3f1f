//! AWS credentials and SigV4 request signing, the two things `tmc` needs to call AWS APIs
//! without the full AWS SDK.
//!
//! Both the copilot (`tmc-llm`, Bedrock Converse) and the knowledge base (`tmc-kb`, Bedrock
//! Titan embeddings) sign requests, but neither may depend on the other; this crate sits below
//! both so the credential rules and the signing exist once.
//!
//! * [`AwsCredentials::resolve`]: access key, secret and session token from an environment
//!   lookup the caller passes in (only the CLI reads the process environment), else from one
//!   profile of the shared credentials file.
//! * [`sign`]: the headers that make an HTTP request SigV4-signed (`host` if the caller has none,
//!   `x-amz-date`, `x-amz-security-token`, `authorization`), computed with `aws-sigv4`.
//!
//! No I/O beyond reading the credentials file; no network.

mod credentials;
mod error;
mod sigv4;

pub use credentials::{AwsCredentials, parse_credentials_file};
pub use error::AwsError;
pub use sigv4::{Request, host_header, sign};
