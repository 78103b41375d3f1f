//! S3-compatible object storage through `object_store`, made blocking with a private
//! current-thread tokio runtime (the only async code in the CLI; nothing else pays for it).

use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, PutPayload};

use crate::{ArtifactError, ArtifactStore, normalise_prefix, validate_key};

/// Where and how to reach the bucket. Credentials are values here; the CLI reads them from
/// environment variables named in `tmc.toml`, never from the file itself.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct S3Config {
    pub bucket: String,
    /// Endpoint URL for S3-compatible servers (`http://127.0.0.1:59001`); `None` for AWS.
    pub endpoint: Option<String>,
    /// Any region is accepted by most S3-compatible servers; AWS needs the bucket's region.
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
    /// Key prefix inside the bucket, so one bucket can hold several teams' artifacts.
    pub prefix: Option<String>,
}

/// Artifacts as objects in one bucket.
pub struct S3Store {
    store: AmazonS3,
    runtime: tokio::runtime::Runtime,
    bucket: String,
    prefix: String,
}

fn remote(e: object_store::Error) -> ArtifactError {
    ArtifactError::Remote(e.to_string())
}

impl S3Store {
    pub fn new(cfg: &S3Config) -> Result<Self, ArtifactError> {
        if cfg.bucket.is_empty() {
            return Err(ArtifactError::Config("no bucket".into()));
        }
        let prefix = match &cfg.prefix {
            Some(p) => normalise_prefix(p)?,
            None => String::new(),
        };
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_access_key_id(&cfg.access_key_id)
            .with_secret_access_key(&cfg.secret_access_key);
        if let Some(token) = &cfg.session_token {
            b = b.with_token(token);
        }
        if let Some(endpoint) = &cfg.endpoint {
            // S3-compatible servers on a loopback or private network are often plain HTTP, and
            // address buckets by path (`/bucket/key`), not by host name.
            b = b
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        let store = b
            .build()
            .map_err(|e| ArtifactError::Config(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ArtifactError::Config(format!("async runtime: {e}")))?;
        Ok(S3Store {
            store,
            runtime,
            bucket: cfg.bucket.clone(),
            prefix,
        })
    }

    fn path_of(&self, key: &str) -> Result<ObjPath, ArtifactError> {
        validate_key(key)?;
        let full = if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        };
        ObjPath::parse(&full).map_err(|e| ArtifactError::InvalidKey {
            key: key.to_string(),
            reason: if e.to_string().is_empty() {
                "not a valid object path"
            } else {
                "not a valid object path (object_store rejected it)"
            },
        })
    }

    fn strip(&self, location: &str) -> String {
        if self.prefix.is_empty() {
            location.to_string()
        } else {
            location
                .strip_prefix(&format!("{}/", self.prefix))
                .unwrap_or(location)
                .to_string()
        }
    }
}

impl ArtifactStore for S3Store {
    fn put(&self, key: &str, bytes: &[u8]) -> Result<(), ArtifactError> {
        let path = self.path_of(key)?;
        let payload = PutPayload::from(bytes.to_vec());
        self.runtime
            .block_on(self.store.put(&path, payload))
            .map(|_| ())
            .map_err(remote)
    }

    fn get(&self, key: &str) -> Result<Vec<u8>, ArtifactError> {
        let path = self.path_of(key)?;
        self.runtime.block_on(async {
            match self.store.get(&path).await {
                Ok(r) => r.bytes().await.map(|b| b.to_vec()).map_err(remote),
                Err(object_store::Error::NotFound { .. }) => {
                    Err(ArtifactError::NotFound(key.to_string()))
                }
                Err(e) => Err(remote(e)),
            }
        })
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, ArtifactError> {
        let prefix = normalise_prefix(prefix)?;
        let full = match (self.prefix.is_empty(), prefix.is_empty()) {
            (true, true) => None,
            (true, false) => Some(prefix.clone()),
            (false, true) => Some(self.prefix.clone()),
            (false, false) => Some(format!("{}/{prefix}", self.prefix)),
        };
        let full = full.map(|p| ObjPath::parse(&p)).transpose().map_err(|_| {
            ArtifactError::InvalidKey {
                key: prefix.clone(),
                reason: "not a valid object path",
            }
        })?;
        let metas: Vec<object_store::ObjectMeta> = self
            .runtime
            .block_on(self.store.list(full.as_ref()).try_collect())
            .map_err(remote)?;
        let mut out: Vec<String> = metas
            .iter()
            .map(|m| self.strip(m.location.as_ref()))
            .collect();
        out.sort();
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<(), ArtifactError> {
        let path = self.path_of(key)?;
        match self.runtime.block_on(self.store.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(remote(e)),
        }
    }

    fn location(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }
}
