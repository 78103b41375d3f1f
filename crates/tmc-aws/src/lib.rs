//! AWS credentials and SigV4 request signing, the two things `tmc` needs to call AWS APIs
//! without the full AWS SDK.
//!
//! Both the copilot (`tmc-llm`, Bedrock Converse) and the knowledge base (`tmc-kb`, Bedrock
//! Titan embeddings) sign requests, but neither may depend on the other; this crate sits below
//! both so the credential rules and the signing exist once.
//!
//! * [`AwsCredentials::resolve`]: access key, secret and session token from the SDKs' default
//!   chain: an environment lookup the caller passes in (only the CLI reads the process
//!   environment), one profile of the shared credentials file, the container credentials
//!   endpoint (ECS task roles, EKS Pod Identity), then EC2 instance metadata (IMDSv2).
//! * [`sign`]: the headers that make an HTTP request SigV4-signed (`host` if the caller has none,
//!   `x-amz-date`, `x-amz-security-token`, `authorization`), computed with `aws-sigv4`.
//!
//! I/O happens only in [`AwsCredentials::resolve`], once, when a Bedrock client is built: the
//! credentials file, the container token file, and HTTP to the two role endpoints. That HTTP
//! (`http.rs`, ureq without proxy or redirects, short timeouts) is one of the workspace's fenced
//! network exceptions: it reaches only the host's own credential services (loopback,
//! link-local, or an `https` container endpoint the runtime names), never a model API, and
//! carries no user data. Signing itself does no I/O.

mod container;
mod credentials;
mod error;
mod http;
mod imds;
mod sigv4;

pub use credentials::{AwsCredentials, parse_credentials_file};
pub use error::AwsError;
pub use sigv4::{Request, host_header, sign};
