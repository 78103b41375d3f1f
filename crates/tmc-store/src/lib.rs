//! Storage for the tmc team server.
//!
//! The server talks to a [`Store`]; [`SqliteStore`] is the embedded implementation (one file,
//! the default) and [`PgStore`] the PostgreSQL one (for a team, and for several server
//! instances sharing one database). Both run the same versioned migrations (`migrations/*.sql`
//! and `migrations/postgres/*.sql`, same numbers, checked to give the same tables) and pass the
//! same tests. [`open`] picks one from a URL. The trait is synchronous on purpose: SQLite and
//! the `postgres` client block, and the server runs calls on `tokio::task::spawn_blocking`,
//! which keeps async out of this crate and makes tests plain.
//!
//! What the store guarantees, because the server's promises rest on it:
//! - every write method returns only after its transaction committed (SQLite: WAL with
//!   `synchronous=FULL`; PostgreSQL: `synchronous_commit=on` set on every connection), so a
//!   commit survives a power cut or `kill -9`;
//! - secrets are never stored: session ids and API tokens as SHA-256 digests, passwords as
//!   Argon2id hashes;
//! - decision events and audit events are append-only (database triggers refuse changes);
//! - the current decisions view carries a version, and [`Store::record_decision`] refuses a
//!   write made against an older version ([`StoreError::Conflict`]).
//!
//! Review decisions are opaque JSON here: their shape belongs to the review crate, and the
//! store must not need a migration when that shape grows a field.

mod pg;
mod secret;
mod sqlite;

pub use pg::{DEFAULT_PG_SCHEMA, PgStore};
pub use secret::{hash_password, random_token, sha256_hex, verify_password};
pub use sqlite::SqliteStore;

/// One schema migration: the same version, name and tables for both backends.
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

/// Schema migrations in order; each runs once, in a transaction with its version row. A new
/// migration adds a file to both directories and a row here.
pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "init",
    sqlite: include_str!("../migrations/0001_init.sql"),
    postgres: include_str!("../migrations/postgres/0001_init.sql"),
}];

/// The schema version this build migrates to.
pub fn known_schema_version() -> i64 {
    MIGRATIONS.last().map(|m| m.version).unwrap_or(0)
}

/// Whether `location` names a PostgreSQL database (`postgres://…`, `postgresql://…`) rather
/// than a SQLite file.
pub fn is_postgres_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// Opens the store a setting names: a PostgreSQL URL (its tables in `pg_schema`, at most
/// `pg_max_connections` connections) or else a SQLite file path.
pub fn open(
    location: &str,
    pg_schema: &str,
    pg_max_connections: usize,
) -> Result<std::sync::Arc<dyn Store>, StoreError> {
    Ok(if is_postgres_url(location) {
        std::sync::Arc::new(PgStore::connect(location, pg_schema, pg_max_connections)?)
    } else {
        std::sync::Arc::new(SqliteStore::open(std::path::Path::new(location))?)
    })
}

use std::fmt;

/// Row id of a user.
pub type UserId = i64;
/// Row id of a product.
pub type ProductId = i64;
/// Row id of a model version.
pub type VersionId = i64;

/// What a member may do on one product. Ordered: each role can do everything the ones before it
/// can, so a route states one minimum role and a comparison decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads models, drafts, decisions, exports.
    Viewer,
    /// Also uploads model versions and runs drafts.
    Developer,
    /// Also decides threats (status, severity, mitigations) and comments.
    Reviewer,
    /// Also manages members and reads the audit log.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Developer, Role::Reviewer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Developer => "developer",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "viewer" => Role::Viewer,
            "developer" => Role::Developer,
            "reviewer" => Role::Reviewer,
            "admin" => Role::Admin,
            _ => return None,
        })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    /// May create products and see every product as admin.
    pub site_admin: bool,
}

/// A signed-in browser session, found by its secret id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    /// The per-session anti-CSRF token every form must echo.
    pub csrf_token: String,
    pub expires_at: i64,
}

/// An API token found by its secret: whose it is and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: i64,
    pub user: User,
    pub name: String,
    /// Roles the token may act with at most (its owner's membership still applies).
    pub max_role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRow {
    pub id: ProductId,
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

/// A product as one user sees it in a list: with their role and the latest version number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductListing {
    pub product: ProductRow,
    pub role: Role,
    pub latest_version: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user: User,
    pub role: Role,
}

/// A model version as uploaded: the DSL text (converted when the upload was another format) and
/// the original file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelVersion {
    pub id: VersionId,
    pub product_id: ProductId,
    /// 1, 2, 3... per product.
    pub number: i64,
    pub dsl_text: String,
    /// SHA-256 (hex) of `dsl_text`.
    pub sha256: String,
    pub original_name: String,
    pub original_bytes: Option<Vec<u8>>,
    pub artifact_key: Option<String>,
    pub uploaded_by: Option<String>,
    pub uploaded_at: i64,
    /// Whether a draft was stored for this version.
    pub has_draft: bool,
}

/// What to store for a new model version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion<'a> {
    pub dsl_text: &'a str,
    pub original_name: &'a str,
    /// The uploaded bytes when they differ from `dsl_text` (an imported format).
    pub original_bytes: Option<&'a [u8]>,
    pub artifact_key: Option<&'a str>,
}

/// The current decisions of a product and the version that write must name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionsView {
    /// JSON of the decisions file; `None` before the first decision.
    pub json: Option<String>,
    /// 0 before the first decision, then one more per recorded edit.
    pub version: i64,
}

/// One recorded review edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionEvent {
    pub id: i64,
    pub actor: Option<String>,
    pub at: i64,
    pub threat_key: String,
    /// JSON of the edit as the review crate writes it.
    pub payload: String,
    /// The decisions version this edit produced.
    pub version_after: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: i64,
    pub threat_key: String,
    pub author: Option<String>,
    pub at: i64,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub at: i64,
    pub actor: Option<String>,
    pub product_id: Option<ProductId>,
    pub action: String,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    /// A PostgreSQL statement or connection failed (server message and SQLSTATE; never the
    /// connection string).
    #[error("PostgreSQL: {0}")]
    Postgres(String),
    #[error("migration {version} ({name}): {message}")]
    Migration {
        version: i64,
        name: &'static str,
        message: String,
    },
    #[error(
        "the database was written by a newer tmc (schema version {found}; this build knows {known})"
    )]
    SchemaTooNew { found: i64, known: i64 },
    /// Someone else wrote the decisions since the version the caller read.
    #[error("decisions changed: you edited version {expected}, the current version is {current}")]
    Conflict { expected: i64, current: i64 },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Duplicate(String),
    #[error("password hashing: {0}")]
    Password(String),
    #[error("operating-system randomness unavailable: {0}")]
    Random(String),
    #[error("invalid input: {0}")]
    Invalid(String),
    #[error("the store's lock was poisoned by a panic in another thread")]
    Poisoned,
}

impl From<tmc_pg::PgError> for StoreError {
    fn from(e: tmc_pg::PgError) -> Self {
        match e {
            tmc_pg::PgError::Query(m) => StoreError::Postgres(m),
            other => StoreError::Postgres(other.to_string()),
        }
    }
}

impl From<tmc_pg::postgres::Error> for StoreError {
    fn from(e: tmc_pg::postgres::Error) -> Self {
        StoreError::Postgres(tmc_pg::db_message(&e))
    }
}

/// Everything the server stores. Implementations must make each write durable before
/// returning `Ok`.
pub trait Store: Send + Sync + 'static {
    // --- users and sign-in ---
    fn create_user(
        &self,
        username: &str,
        display_name: &str,
        password: &str,
        site_admin: bool,
    ) -> Result<UserId, StoreError>;
    fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// The user when the password is right. Spends the same hashing time when the user does
    /// not exist, so timing does not tell which usernames exist.
    fn check_password(&self, username: &str, password: &str) -> Result<Option<User>, StoreError>;
    /// Records a sign-in attempt (for the rate limit and the audit).
    fn record_login_attempt(
        &self,
        account: &str,
        ip: &str,
        success: bool,
    ) -> Result<(), StoreError>;
    /// Failed attempts for this account from this address since `since` (Unix seconds),
    /// not counting those before the last success.
    fn recent_login_failures(&self, account: &str, ip: &str, since: i64)
    -> Result<u32, StoreError>;

    // --- sessions ---
    /// Starts a session; returns the secret id for the cookie (only its digest is stored).
    fn create_session(&self, user: UserId, ttl_seconds: i64) -> Result<String, StoreError>;
    /// The live session with this secret id.
    fn session(&self, secret: &str) -> Result<Option<Session>, StoreError>;
    fn delete_session(&self, secret: &str) -> Result<(), StoreError>;

    // --- API tokens ---
    /// Creates a token; returns its secret (shown once) and its id.
    fn create_api_token(
        &self,
        user: UserId,
        name: &str,
        max_role: Role,
        ttl_seconds: Option<i64>,
    ) -> Result<(String, i64), StoreError>;
    /// The live, unrevoked token with this secret.
    fn api_token(&self, secret: &str) -> Result<Option<ApiToken>, StoreError>;
    fn revoke_api_token(&self, user: UserId, token_id: i64) -> Result<(), StoreError>;

    // --- products and members ---
    /// Creates a product and makes `creator` its admin, in one transaction.
    fn create_product(
        &self,
        name: &str,
        description: &str,
        creator: UserId,
    ) -> Result<ProductId, StoreError>;
    fn product(&self, id: ProductId) -> Result<Option<ProductRow>, StoreError>;
    /// Products the user is a member of (every product for a site admin).
    fn products_for(&self, user: &User) -> Result<Vec<ProductListing>, StoreError>;
    fn set_membership(
        &self,
        user: UserId,
        product: ProductId,
        role: Role,
    ) -> Result<(), StoreError>;
    fn membership(&self, user: UserId, product: ProductId) -> Result<Option<Role>, StoreError>;
    fn members(&self, product: ProductId) -> Result<Vec<Member>, StoreError>;

    // --- model versions and drafts ---
    fn add_version(
        &self,
        product: ProductId,
        uploaded_by: UserId,
        version: &NewVersion<'_>,
    ) -> Result<ModelVersion, StoreError>;
    /// Newest first.
    fn versions(&self, product: ProductId) -> Result<Vec<ModelVersion>, StoreError>;
    fn version(&self, product: ProductId, number: i64) -> Result<Option<ModelVersion>, StoreError>;
    fn latest_version(&self, product: ProductId) -> Result<Option<ModelVersion>, StoreError>;
    fn save_draft(
        &self,
        version: VersionId,
        by: UserId,
        draft_json: &str,
    ) -> Result<(), StoreError>;
    fn draft(&self, version: VersionId) -> Result<Option<String>, StoreError>;

    // --- review decisions ---
    fn decisions(&self, product: ProductId) -> Result<DecisionsView, StoreError>;
    /// Appends the events and replaces the current view, if the view is still at
    /// `expected_version`; returns the new version.
    fn record_decision(
        &self,
        product: ProductId,
        actor: UserId,
        expected_version: i64,
        events: &[(String, String)],
        new_view_json: &str,
    ) -> Result<i64, StoreError>;
    /// Events that produced versions after `version` (oldest first).
    fn decision_events_since(
        &self,
        product: ProductId,
        version: i64,
    ) -> Result<Vec<DecisionEvent>, StoreError>;

    // --- comments ---
    fn add_comment(
        &self,
        product: ProductId,
        author: UserId,
        threat_key: &str,
        body: &str,
    ) -> Result<i64, StoreError>;
    fn comments(&self, product: ProductId) -> Result<Vec<Comment>, StoreError>;

    // --- audit ---
    fn audit(
        &self,
        actor: Option<UserId>,
        product: Option<ProductId>,
        action: &str,
        detail: &str,
    ) -> Result<(), StoreError>;
    /// Newest first, at most `limit`.
    fn audit_events(
        &self,
        product: Option<ProductId>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;
}
