//! The PostgreSQL store: the same schema as SQLite (`migrations/postgres/`), in one schema of a
//! shared database, over a small connection pool so concurrent requests do not queue on one
//! connection.
//!
//! Several server instances may share the database: nothing lives in memory, migrations are
//! serialised by an advisory lock, and the writes that read before they write lock the row
//! they depend on (the product for a new version number, the decisions row for its version).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tmc_pg::postgres::error::SqlState;
use tmc_pg::postgres::{self, Client, Row};
use tmc_pg::{Pool, check_identifier};

use crate::secret::{hash_password, random_token, sha256, sha256_hex, verify_password};
use crate::sqlite::DUMMY_HASH;
use crate::{
    ApiToken, AuditEvent, Comment, DecisionEvent, DecisionsView, MIGRATIONS, Member, ModelVersion,
    NewVersion, ProductId, ProductListing, ProductRow, Role, Session, Store, StoreError, User,
    UserId, VersionId, known_schema_version,
};

/// The schema holding the server's tables unless configured otherwise; the knowledge base
/// uses `tmc_kb`, so both can live in one database.
pub const DEFAULT_PG_SCHEMA: &str = "tmc_server";

/// How long a request waits for a free connection before it fails.
const POOL_WAIT: Duration = Duration::from_secs(30);

/// PostgreSQL-backed [`Store`].
pub struct PgStore {
    pool: Pool,
    schema: String,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn role(text: &str) -> Result<Role, StoreError> {
    Role::parse(text).ok_or_else(|| StoreError::Invalid(format!("stored role `{text}` is unknown")))
}

/// `u.id, u.username, u.display_name, u.site_admin` starting at column `first`.
fn user_at(row: &Row, first: usize) -> Result<User, postgres::Error> {
    Ok(User {
        id: row.try_get(first)?,
        username: row.try_get(first + 1)?,
        display_name: row.try_get(first + 2)?,
        site_admin: row.try_get(first + 3)?,
    })
}

const VERSION_COLUMNS: &str = "v.id, v.product_id, v.number, v.dsl_text, v.sha256, v.original_name, \
     v.original_bytes, v.artifact_key, u.username, v.uploaded_at, \
     EXISTS (SELECT 1 FROM drafts d WHERE d.version_id = v.id)";

fn version_at(row: &Row) -> Result<ModelVersion, postgres::Error> {
    Ok(ModelVersion {
        id: row.try_get(0)?,
        product_id: row.try_get(1)?,
        number: row.try_get(2)?,
        dsl_text: row.try_get(3)?,
        sha256: row.try_get(4)?,
        original_name: row.try_get(5)?,
        original_bytes: row.try_get(6)?,
        artifact_key: row.try_get(7)?,
        uploaded_by: row.try_get(8)?,
        uploaded_at: row.try_get(9)?,
        has_draft: row.try_get(10)?,
    })
}

fn product_at(row: &Row) -> Result<ProductRow, postgres::Error> {
    Ok(ProductRow {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        description: row.try_get(2)?,
        created_at: row.try_get(3)?,
    })
}

fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

fn map_unique(e: postgres::Error, what: impl FnOnce() -> String) -> StoreError {
    if is_unique_violation(&e) {
        StoreError::Duplicate(what())
    } else {
        e.into()
    }
}

impl PgStore {
    /// Connects (TLS as the URL's `sslmode` says, see `tmc_pg`), creates `schema` and brings
    /// its tables up to date. At most `max_connections` connections are opened, on demand.
    /// Every connection works in `schema` and commits synchronously.
    pub fn connect(url: &str, schema: &str, max_connections: usize) -> Result<PgStore, StoreError> {
        check_identifier(schema, "schema")?;
        let search_path = format!(
            "SET search_path TO {schema}; SET synchronous_commit TO on; SET TIME ZONE 'UTC'"
        );
        let pool = Pool::new(
            url,
            max_connections,
            POOL_WAIT,
            Box::new(move |c: &mut Client| c.batch_execute(&search_path)),
        )?;
        let store = PgStore {
            pool,
            schema: schema.to_string(),
        };
        store.migrate()?;
        Ok(store)
    }

    /// The schema holding this store's tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        let mut c = self.pool.get()?;
        Ok(c.query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )?
        .try_get(0)?)
    }

    /// Drops the schema and everything in it (tests; a reset). Irreversible.
    pub fn drop_schema(self) -> Result<(), StoreError> {
        let mut c = self.pool.get()?;
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.schema))?;
        Ok(())
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        // One instance migrates at a time; the others wait here and then find nothing to do.
        tx.execute(
            "SELECT pg_advisory_xact_lock(hashtext('tmc_store migrate ' || $1))",
            &[&self.schema],
        )?;
        tx.batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                 version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
            schema = self.schema
        ))?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                &[],
            )?
            .try_get(0)?;
        let known = known_schema_version();
        if current > known {
            return Err(StoreError::SchemaTooNew {
                found: current,
                known,
            });
        }
        for m in MIGRATIONS.iter().filter(|m| m.version > current) {
            let wrap = |e: postgres::Error| StoreError::Migration {
                version: m.version,
                name: m.name,
                message: tmc_pg::db_message(&e),
            };
            tx.batch_execute(m.postgres).map_err(wrap)?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                &[&m.version, &m.name, &now()],
            )
            .map_err(wrap)?;
        }
        tx.commit()?;
        Ok(())
    }
}

impl Store for PgStore {
    fn create_user(
        &self,
        username: &str,
        display_name: &str,
        password: &str,
        site_admin: bool,
    ) -> Result<UserId, StoreError> {
        let username = username.trim();
        if username.is_empty() || username.len() > 64 {
            return Err(StoreError::Invalid(
                "username: must be 1 to 64 characters".into(),
            ));
        }
        if password.len() < 8 {
            return Err(StoreError::Invalid(
                "password: must be at least 8 characters".into(),
            ));
        }
        let hash = hash_password(password)?;
        let mut c = self.pool.get()?;
        let row = c
            .query_one(
                "INSERT INTO users (username, display_name, password_hash, site_admin, created_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[&username, &display_name, &hash, &site_admin, &now()],
            )
            .map_err(|e| map_unique(e, || format!("user `{username}`")))?;
        Ok(row.try_get(0)?)
    }

    fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        let mut c = self.pool.get()?;
        let row = c.query_opt(
            "SELECT id, username, display_name, site_admin FROM users WHERE username = $1",
            &[&username],
        )?;
        Ok(row.map(|r| user_at(&r, 0)).transpose()?)
    }

    fn check_password(&self, username: &str, password: &str) -> Result<Option<User>, StoreError> {
        let found = {
            let mut c = self.pool.get()?;
            match c.query_opt(
                "SELECT id, username, display_name, site_admin, password_hash
                 FROM users WHERE username = $1",
                &[&username],
            )? {
                Some(r) => Some((user_at(&r, 0)?, r.try_get::<_, String>(4)?)),
                None => None,
            }
        };
        // Hash with the connection back in the pool: Argon2 takes tens of milliseconds.
        match found {
            Some((user, hash)) => Ok(verify_password(password, &hash)?.then_some(user)),
            None => {
                let _ = verify_password(password, DUMMY_HASH);
                Ok(None)
            }
        }
    }

    fn record_login_attempt(
        &self,
        account: &str,
        ip: &str,
        success: bool,
    ) -> Result<(), StoreError> {
        let mut c = self.pool.get()?;
        c.execute(
            "INSERT INTO login_attempts (account, ip, at, success) VALUES ($1, $2, $3, $4)",
            &[&account, &ip, &now(), &success],
        )?;
        Ok(())
    }

    fn recent_login_failures(
        &self,
        account: &str,
        ip: &str,
        since: i64,
    ) -> Result<u32, StoreError> {
        let mut c = self.pool.get()?;
        let n: i64 = c
            .query_one(
                "SELECT COUNT(*) FROM login_attempts
                 WHERE account = $1 AND ip = $2 AND NOT success AND at >= $3
                   AND id > COALESCE((SELECT MAX(id) FROM login_attempts
                                      WHERE account = $1 AND ip = $2 AND success), 0)",
                &[&account, &ip, &since],
            )?
            .try_get(0)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn create_session(&self, user: UserId, ttl_seconds: i64) -> Result<String, StoreError> {
        let secret = random_token()?;
        let csrf = random_token()?;
        let t = now();
        let mut c = self.pool.get()?;
        c.execute("DELETE FROM sessions WHERE expires_at < $1", &[&t])?;
        c.execute(
            "INSERT INTO sessions (id_sha256, user_id, csrf_token, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
            &[&sha256(&secret), &user, &csrf, &t, &(t + ttl_seconds)],
        )?;
        Ok(secret)
    }

    fn session(&self, secret: &str) -> Result<Option<Session>, StoreError> {
        let mut c = self.pool.get()?;
        let row = c.query_opt(
            "SELECT u.id, u.username, u.display_name, u.site_admin, s.csrf_token, s.expires_at
             FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id_sha256 = $1 AND s.expires_at > $2",
            &[&sha256(secret), &now()],
        )?;
        Ok(match row {
            Some(r) => Some(Session {
                user: user_at(&r, 0)?,
                csrf_token: r.try_get(4)?,
                expires_at: r.try_get(5)?,
            }),
            None => None,
        })
    }

    fn delete_session(&self, secret: &str) -> Result<(), StoreError> {
        let mut c = self.pool.get()?;
        c.execute(
            "DELETE FROM sessions WHERE id_sha256 = $1",
            &[&sha256(secret)],
        )?;
        Ok(())
    }

    fn create_api_token(
        &self,
        user: UserId,
        name: &str,
        max_role: Role,
        ttl_seconds: Option<i64>,
    ) -> Result<(String, i64), StoreError> {
        let secret = format!("tmc_{}", random_token()?);
        let t = now();
        let mut c = self.pool.get()?;
        let row = c.query_one(
            "INSERT INTO api_tokens (token_sha256, user_id, name, scopes, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &sha256(&secret),
                &user,
                &name,
                &max_role.as_str(),
                &t,
                &ttl_seconds.map(|s| t + s),
            ],
        )?;
        Ok((secret, row.try_get(0)?))
    }

    fn api_token(&self, secret: &str) -> Result<Option<ApiToken>, StoreError> {
        let mut c = self.pool.get()?;
        let row = c.query_opt(
            "SELECT u.id, u.username, u.display_name, u.site_admin, t.id, t.name, t.scopes
             FROM api_tokens t JOIN users u ON u.id = t.user_id
             WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL
               AND (t.expires_at IS NULL OR t.expires_at > $2)",
            &[&sha256(secret), &now()],
        )?;
        Ok(match row {
            Some(r) => Some(ApiToken {
                user: user_at(&r, 0)?,
                id: r.try_get(4)?,
                name: r.try_get(5)?,
                max_role: role(&r.try_get::<_, String>(6)?)?,
            }),
            None => None,
        })
    }

    fn revoke_api_token(&self, user: UserId, token_id: i64) -> Result<(), StoreError> {
        let mut c = self.pool.get()?;
        let n = c.execute(
            "UPDATE api_tokens SET revoked_at = $1
             WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
            &[&now(), &token_id, &user],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("API token {token_id}")));
        }
        Ok(())
    }

    fn create_product(
        &self,
        name: &str,
        description: &str,
        creator: UserId,
    ) -> Result<ProductId, StoreError> {
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        let id: i64 = tx
            .query_one(
                "INSERT INTO products (name, description, created_by, created_at)
                 VALUES ($1, $2, $3, $4) RETURNING id",
                &[&name, &description, &creator, &now()],
            )?
            .try_get(0)?;
        tx.execute(
            "INSERT INTO memberships (user_id, product_id, role) VALUES ($1, $2, 'admin')",
            &[&creator, &id],
        )?;
        tx.commit()?;
        Ok(id)
    }

    fn product(&self, id: ProductId) -> Result<Option<ProductRow>, StoreError> {
        let mut c = self.pool.get()?;
        let row = c.query_opt(
            "SELECT id, name, description, created_at FROM products WHERE id = $1",
            &[&id],
        )?;
        Ok(row.map(|r| product_at(&r)).transpose()?)
    }

    fn products_for(&self, user: &User) -> Result<Vec<ProductListing>, StoreError> {
        let mut c = self.pool.get()?;
        let rows = c.query(
            "SELECT p.id, p.name, p.description, p.created_at,
                    CASE WHEN $2 THEN 'admin' ELSE m.role END,
                    (SELECT MAX(number) FROM model_versions v WHERE v.product_id = p.id)
             FROM products p LEFT JOIN memberships m ON m.product_id = p.id AND m.user_id = $1
             WHERE $2 OR m.role IS NOT NULL
             ORDER BY p.name, p.id",
            &[&user.id, &user.site_admin],
        )?;
        rows.iter()
            .map(|r| {
                Ok(ProductListing {
                    product: product_at(r)?,
                    role: role(&r.try_get::<_, String>(4)?)?,
                    latest_version: r.try_get(5)?,
                })
            })
            .collect()
    }

    fn set_membership(
        &self,
        user: UserId,
        product: ProductId,
        role: Role,
    ) -> Result<(), StoreError> {
        let mut c = self.pool.get()?;
        c.execute(
            "INSERT INTO memberships (user_id, product_id, role) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, product_id) DO UPDATE SET role = excluded.role",
            &[&user, &product, &role.as_str()],
        )?;
        Ok(())
    }

    fn membership(&self, user: UserId, product: ProductId) -> Result<Option<Role>, StoreError> {
        let mut c = self.pool.get()?;
        let row = c.query_opt(
            "SELECT role FROM memberships WHERE user_id = $1 AND product_id = $2",
            &[&user, &product],
        )?;
        match row {
            Some(r) => Ok(Some(role(&r.try_get::<_, String>(0)?)?)),
            None => Ok(None),
        }
    }

    fn members(&self, product: ProductId) -> Result<Vec<Member>, StoreError> {
        let mut c = self.pool.get()?;
        let rows = c.query(
            "SELECT u.id, u.username, u.display_name, u.site_admin, m.role
             FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.product_id = $1 ORDER BY u.username",
            &[&product],
        )?;
        rows.iter()
            .map(|r| {
                Ok(Member {
                    user: user_at(r, 0)?,
                    role: role(&r.try_get::<_, String>(4)?)?,
                })
            })
            .collect()
    }

    fn add_version(
        &self,
        product: ProductId,
        uploaded_by: UserId,
        version: &NewVersion<'_>,
    ) -> Result<ModelVersion, StoreError> {
        let sha = sha256_hex(version.dsl_text.as_bytes());
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        // The product row lock orders concurrent uploads (also from other instances), so
        // each gets the next number instead of a unique-key error.
        if tx
            .query_opt(
                "SELECT id FROM products WHERE id = $1 FOR UPDATE",
                &[&product],
            )?
            .is_none()
        {
            return Err(StoreError::NotFound(format!("product {product}")));
        }
        let number: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM model_versions WHERE product_id = $1",
                &[&product],
            )?
            .try_get(0)?;
        let id: i64 = tx
            .query_one(
                "INSERT INTO model_versions (product_id, number, dsl_text, sha256, original_name,
                     original_bytes, artifact_key, uploaded_by, uploaded_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                &[
                    &product,
                    &number,
                    &version.dsl_text,
                    &sha,
                    &version.original_name,
                    &version.original_bytes,
                    &version.artifact_key,
                    &uploaded_by,
                    &now(),
                ],
            )?
            .try_get(0)?;
        let row = tx.query_one(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM model_versions v
                 LEFT JOIN users u ON u.id = v.uploaded_by WHERE v.id = $1"
            ),
            &[&id],
        )?;
        let v = version_at(&row)?;
        tx.commit()?;
        Ok(v)
    }

    fn versions(&self, product: ProductId) -> Result<Vec<ModelVersion>, StoreError> {
        let mut c = self.pool.get()?;
        let rows = c.query(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM model_versions v
                 LEFT JOIN users u ON u.id = v.uploaded_by
                 WHERE v.product_id = $1 ORDER BY v.number DESC"
            ),
            &[&product],
        )?;
        Ok(rows.iter().map(version_at).collect::<Result<_, _>>()?)
    }

    fn version(&self, product: ProductId, number: i64) -> Result<Option<ModelVersion>, StoreError> {
        let mut c = self.pool.get()?;
        let row = c.query_opt(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM model_versions v
                 LEFT JOIN users u ON u.id = v.uploaded_by
                 WHERE v.product_id = $1 AND v.number = $2"
            ),
            &[&product, &number],
        )?;
        Ok(row.map(|r| version_at(&r)).transpose()?)
    }

    fn latest_version(&self, product: ProductId) -> Result<Option<ModelVersion>, StoreError> {
        let mut c = self.pool.get()?;
        let row = c.query_opt(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM model_versions v
                 LEFT JOIN users u ON u.id = v.uploaded_by
                 WHERE v.product_id = $1 ORDER BY v.number DESC LIMIT 1"
            ),
            &[&product],
        )?;
        Ok(row.map(|r| version_at(&r)).transpose()?)
    }

    fn save_draft(
        &self,
        version: VersionId,
        by: UserId,
        draft_json: &str,
    ) -> Result<(), StoreError> {
        let mut c = self.pool.get()?;
        c.execute(
            "INSERT INTO drafts (version_id, draft_json, created_by, created_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (version_id) DO UPDATE SET draft_json = excluded.draft_json,
                 created_by = excluded.created_by, created_at = excluded.created_at",
            &[&version, &draft_json, &by, &now()],
        )?;
        Ok(())
    }

    fn draft(&self, version: VersionId) -> Result<Option<String>, StoreError> {
        let mut c = self.pool.get()?;
        let row = c.query_opt(
            "SELECT draft_json FROM drafts WHERE version_id = $1",
            &[&version],
        )?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    fn decisions(&self, product: ProductId) -> Result<DecisionsView, StoreError> {
        let mut c = self.pool.get()?;
        let row = c.query_opt(
            "SELECT decisions_json, version FROM decisions_current WHERE product_id = $1",
            &[&product],
        )?;
        Ok(match row {
            Some(r) => DecisionsView {
                json: Some(r.try_get(0)?),
                version: r.try_get(1)?,
            },
            None => DecisionsView {
                json: None,
                version: 0,
            },
        })
    }

    fn record_decision(
        &self,
        product: ProductId,
        actor: UserId,
        expected_version: i64,
        events: &[(String, String)],
        new_view_json: &str,
    ) -> Result<i64, StoreError> {
        let next = expected_version + 1;
        let mut c = self.pool.get()?;
        let mut tx = c.transaction()?;
        // The version check and the write are one statement: the UPDATE waits for a
        // concurrent writer's row lock and then re-checks `version` on the committed row
        // (READ COMMITTED), and the first INSERT waits on the key. Either way exactly one of
        // two writers at the same version succeeds, on any number of instances.
        let written = if expected_version == 0 {
            tx.execute(
                "INSERT INTO decisions_current (product_id, decisions_json, version)
                 VALUES ($1, $2, 1) ON CONFLICT (product_id) DO NOTHING",
                &[&product, &new_view_json],
            )?
        } else {
            tx.execute(
                "UPDATE decisions_current SET decisions_json = $2, version = $3
                 WHERE product_id = $1 AND version = $4",
                &[&product, &new_view_json, &next, &expected_version],
            )?
        };
        if written == 0 {
            let current: i64 = match tx.query_opt(
                "SELECT version FROM decisions_current WHERE product_id = $1",
                &[&product],
            )? {
                Some(r) => r.try_get(0)?,
                None => 0,
            };
            return Err(StoreError::Conflict {
                expected: expected_version,
                current,
            });
        }
        let t = now();
        let insert = tx.prepare(
            "INSERT INTO decision_events (product_id, actor_id, at, threat_key, payload, version_after)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )?;
        for (key, payload) in events {
            tx.execute(&insert, &[&product, &actor, &t, key, payload, &next])?;
        }
        tx.commit()?;
        Ok(next)
    }

    fn decision_events_since(
        &self,
        product: ProductId,
        version: i64,
    ) -> Result<Vec<DecisionEvent>, StoreError> {
        let mut c = self.pool.get()?;
        let rows = c.query(
            "SELECT e.id, u.username, e.at, e.threat_key, e.payload, e.version_after
             FROM decision_events e LEFT JOIN users u ON u.id = e.actor_id
             WHERE e.product_id = $1 AND e.version_after > $2 ORDER BY e.id",
            &[&product, &version],
        )?;
        rows.iter()
            .map(|r| {
                Ok(DecisionEvent {
                    id: r.try_get(0)?,
                    actor: r.try_get(1)?,
                    at: r.try_get(2)?,
                    threat_key: r.try_get(3)?,
                    payload: r.try_get(4)?,
                    version_after: r.try_get(5)?,
                })
            })
            .collect()
    }

    fn add_comment(
        &self,
        product: ProductId,
        author: UserId,
        threat_key: &str,
        body: &str,
    ) -> Result<i64, StoreError> {
        let mut c = self.pool.get()?;
        let row = c.query_one(
            "INSERT INTO comments (product_id, threat_key, author_id, at, body)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&product, &threat_key, &author, &now(), &body],
        )?;
        Ok(row.try_get(0)?)
    }

    fn comments(&self, product: ProductId) -> Result<Vec<Comment>, StoreError> {
        let mut c = self.pool.get()?;
        let rows = c.query(
            "SELECT c.id, c.threat_key, u.username, c.at, c.body
             FROM comments c LEFT JOIN users u ON u.id = c.author_id
             WHERE c.product_id = $1 ORDER BY c.id",
            &[&product],
        )?;
        rows.iter()
            .map(|r| {
                Ok(Comment {
                    id: r.try_get(0)?,
                    threat_key: r.try_get(1)?,
                    author: r.try_get(2)?,
                    at: r.try_get(3)?,
                    body: r.try_get(4)?,
                })
            })
            .collect()
    }

    fn audit(
        &self,
        actor: Option<UserId>,
        product: Option<ProductId>,
        action: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        let mut c = self.pool.get()?;
        c.execute(
            "INSERT INTO audit_events (at, actor_id, product_id, action, detail)
             VALUES ($1, $2, $3, $4, $5)",
            &[&now(), &actor, &product, &action, &detail],
        )?;
        Ok(())
    }

    fn audit_events(
        &self,
        product: Option<ProductId>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let mut c = self.pool.get()?;
        let rows = c.query(
            "SELECT a.id, a.at, u.username, a.product_id, a.action, a.detail
             FROM audit_events a LEFT JOIN users u ON u.id = a.actor_id
             WHERE $1::BIGINT IS NULL OR a.product_id = $1 ORDER BY a.id DESC LIMIT $2",
            &[&product, &i64::from(limit)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(AuditEvent {
                    id: r.try_get(0)?,
                    at: r.try_get(1)?,
                    actor: r.try_get(2)?,
                    product_id: r.try_get(3)?,
                    action: r.try_get(4)?,
                    detail: r.try_get(5)?,
                })
            })
            .collect()
    }
}
