//! The embedded store: one SQLite file in WAL mode.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use crate::secret::{hash_password, random_token, sha256, sha256_hex, verify_password};
use crate::{
    ApiToken, AuditEvent, Comment, DecisionEvent, DecisionsView, MIGRATIONS, Member, ModelVersion,
    NewVersion, ProductId, ProductListing, ProductRow, Role, Session, Store, StoreError, User,
    UserId, VersionId, known_schema_version,
};

/// A valid Argon2id hash of a random password, verified against when a username does not
/// exist so that a wrong username costs as much time as a wrong password.
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$mOsQJ3ZbbQY6Rlr3XU2QUNQXdG7W4HxWCY2a2Bd2Vx8";

/// SQLite-backed [`Store`]. One connection behind a mutex: SQLite serialises writers anyway,
/// and the server's load (a team reviewing threats) is far below what one connection serves.
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn role_from_sql(text: &str) -> Result<Role, rusqlite::Error> {
    Role::parse(text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("unknown role `{text}`").into(),
        )
    })
}

fn user_from_row(row: &rusqlite::Row<'_>, first: usize) -> Result<User, rusqlite::Error> {
    Ok(User {
        id: row.get(first)?,
        username: row.get(first + 1)?,
        display_name: row.get(first + 2)?,
        site_admin: row.get::<_, i64>(first + 3)? != 0,
    })
}

const VERSION_COLUMNS: &str = "v.id, v.product_id, v.number, v.dsl_text, v.sha256, v.original_name, \
     v.original_bytes, v.artifact_key, u.username, v.uploaded_at, \
     EXISTS (SELECT 1 FROM drafts d WHERE d.version_id = v.id)";

fn version_from_row(row: &rusqlite::Row<'_>) -> Result<ModelVersion, rusqlite::Error> {
    Ok(ModelVersion {
        id: row.get(0)?,
        product_id: row.get(1)?,
        number: row.get(2)?,
        dsl_text: row.get(3)?,
        sha256: row.get(4)?,
        original_name: row.get(5)?,
        original_bytes: row.get(6)?,
        artifact_key: row.get(7)?,
        uploaded_by: row.get(8)?,
        uploaded_at: row.get(9)?,
        has_draft: row.get(10)?,
    })
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<SqliteStore, StoreError> {
        // WAL lets readers run during a write; FULL syncs the WAL on every commit, so an
        // acknowledged write survives a crash (NORMAL could lose the last commits on power loss).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&mut conn)?;
        Ok(SqliteStore {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        let conn = self.conn()?;
        Ok(conn.query_row(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            [],
            |r| r.get(0),
        )?)
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)",
    )?;
    let current: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |r| r.get(0),
    )?;
    let known = known_schema_version();
    if current > known {
        return Err(StoreError::SchemaTooNew {
            found: current,
            known,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        let (version, name, sql) = (m.version, m.name, m.sqlite);
        let wrap = |source: rusqlite::Error| StoreError::Migration {
            version,
            name,
            message: source.to_string(),
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Exclusive)
            .map_err(wrap)?;
        tx.execute_batch(sql).map_err(wrap)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
            params![version, name, now()],
        )
        .map_err(wrap)?;
        tx.commit().map_err(wrap)?;
    }
    Ok(())
}

fn map_unique(e: rusqlite::Error, what: impl FnOnce() -> String) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            StoreError::Duplicate(what())
        }
        _ => StoreError::Db(e),
    }
}

impl Store for SqliteStore {
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
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO users (username, display_name, password_hash, site_admin, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![username, display_name, hash, site_admin as i64, now()],
        )
        .map_err(|e| map_unique(e, || format!("user `{username}`")))?;
        Ok(conn.last_insert_rowid())
    }

    fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                "SELECT id, username, display_name, site_admin FROM users WHERE username = ?1",
                [username],
                |r| user_from_row(r, 0),
            )
            .optional()?)
    }

    fn check_password(&self, username: &str, password: &str) -> Result<Option<User>, StoreError> {
        let found = {
            let conn = self.conn()?;
            conn.query_row(
                "SELECT id, username, display_name, site_admin, password_hash
                 FROM users WHERE username = ?1",
                [username],
                |r| Ok((user_from_row(r, 0)?, r.get::<_, String>(4)?)),
            )
            .optional()?
        };
        // Hash outside the lock: Argon2 takes tens of milliseconds.
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
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO login_attempts (account, ip, at, success) VALUES (?1, ?2, ?3, ?4)",
            params![account, ip, now(), success as i64],
        )?;
        Ok(())
    }

    fn recent_login_failures(
        &self,
        account: &str,
        ip: &str,
        since: i64,
    ) -> Result<u32, StoreError> {
        let conn = self.conn()?;
        let n: i64 = conn.query_row(
            "SELECT COUNT(*) FROM login_attempts
             WHERE account = ?1 AND ip = ?2 AND success = 0 AND at >= ?3
               AND id > COALESCE((SELECT MAX(id) FROM login_attempts
                                  WHERE account = ?1 AND ip = ?2 AND success = 1), 0)",
            params![account, ip, since],
            |r| r.get(0),
        )?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn create_session(&self, user: UserId, ttl_seconds: i64) -> Result<String, StoreError> {
        let secret = random_token()?;
        let csrf = random_token()?;
        let t = now();
        let conn = self.conn()?;
        conn.execute("DELETE FROM sessions WHERE expires_at < ?1", [t])?;
        conn.execute(
            "INSERT INTO sessions (id_sha256, user_id, csrf_token, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5)",
            params![sha256(&secret), user, csrf, t, t + ttl_seconds],
        )?;
        Ok(secret)
    }

    fn session(&self, secret: &str) -> Result<Option<Session>, StoreError> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                "SELECT u.id, u.username, u.display_name, u.site_admin, s.csrf_token, s.expires_at
                 FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id_sha256 = ?1 AND s.expires_at > ?2",
                params![sha256(secret), now()],
                |r| {
                    Ok(Session {
                        user: user_from_row(r, 0)?,
                        csrf_token: r.get(4)?,
                        expires_at: r.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    fn delete_session(&self, secret: &str) -> Result<(), StoreError> {
        let conn = self.conn()?;
        conn.execute(
            "DELETE FROM sessions WHERE id_sha256 = ?1",
            [sha256(secret)],
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
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO api_tokens (token_sha256, user_id, name, scopes, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                sha256(&secret),
                user,
                name,
                max_role.as_str(),
                t,
                ttl_seconds.map(|s| t + s)
            ],
        )?;
        Ok((secret, conn.last_insert_rowid()))
    }

    fn api_token(&self, secret: &str) -> Result<Option<ApiToken>, StoreError> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                "SELECT u.id, u.username, u.display_name, u.site_admin, t.id, t.name, t.scopes
                 FROM api_tokens t JOIN users u ON u.id = t.user_id
                 WHERE t.token_sha256 = ?1 AND t.revoked_at IS NULL
                   AND (t.expires_at IS NULL OR t.expires_at > ?2)",
                params![sha256(secret), now()],
                |r| {
                    Ok(ApiToken {
                        user: user_from_row(r, 0)?,
                        id: r.get(4)?,
                        name: r.get(5)?,
                        max_role: role_from_sql(&r.get::<_, String>(6)?)?,
                    })
                },
            )
            .optional()?)
    }

    fn revoke_api_token(&self, user: UserId, token_id: i64) -> Result<(), StoreError> {
        let conn = self.conn()?;
        let n = conn.execute(
            "UPDATE api_tokens SET revoked_at = ?1
             WHERE id = ?2 AND user_id = ?3 AND revoked_at IS NULL",
            params![now(), token_id, user],
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
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO products (name, description, created_by, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![name, description, creator, now()],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO memberships (user_id, product_id, role) VALUES (?1, ?2, 'admin')",
            params![creator, id],
        )?;
        tx.commit()?;
        Ok(id)
    }

    fn product(&self, id: ProductId) -> Result<Option<ProductRow>, StoreError> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                "SELECT id, name, description, created_at FROM products WHERE id = ?1",
                [id],
                |r| {
                    Ok(ProductRow {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        description: r.get(2)?,
                        created_at: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    fn products_for(&self, user: &User) -> Result<Vec<ProductListing>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT p.id, p.name, p.description, p.created_at,
                    CASE WHEN ?2 THEN 'admin' ELSE m.role END,
                    (SELECT MAX(number) FROM model_versions v WHERE v.product_id = p.id)
             FROM products p LEFT JOIN memberships m ON m.product_id = p.id AND m.user_id = ?1
             WHERE ?2 OR m.role IS NOT NULL
             ORDER BY p.name, p.id",
        )?;
        let rows = stmt.query_map(params![user.id, user.site_admin], |r| {
            Ok(ProductListing {
                product: ProductRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    description: r.get(2)?,
                    created_at: r.get(3)?,
                },
                role: role_from_sql(&r.get::<_, String>(4)?)?,
                latest_version: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn set_membership(
        &self,
        user: UserId,
        product: ProductId,
        role: Role,
    ) -> Result<(), StoreError> {
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO memberships (user_id, product_id, role) VALUES (?1, ?2, ?3)
             ON CONFLICT (user_id, product_id) DO UPDATE SET role = excluded.role",
            params![user, product, role.as_str()],
        )?;
        Ok(())
    }

    fn membership(&self, user: UserId, product: ProductId) -> Result<Option<Role>, StoreError> {
        let conn = self.conn()?;
        let role: Option<String> = conn
            .query_row(
                "SELECT role FROM memberships WHERE user_id = ?1 AND product_id = ?2",
                params![user, product],
                |r| r.get(0),
            )
            .optional()?;
        Ok(match role {
            Some(r) => Some(role_from_sql(&r)?),
            None => None,
        })
    }

    fn members(&self, product: ProductId) -> Result<Vec<Member>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT u.id, u.username, u.display_name, u.site_admin, m.role
             FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.product_id = ?1 ORDER BY u.username",
        )?;
        let rows = stmt.query_map([product], |r| {
            Ok(Member {
                user: user_from_row(r, 0)?,
                role: role_from_sql(&r.get::<_, String>(4)?)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn add_version(
        &self,
        product: ProductId,
        uploaded_by: UserId,
        version: &NewVersion<'_>,
    ) -> Result<ModelVersion, StoreError> {
        let sha = sha256_hex(version.dsl_text.as_bytes());
        let mut conn = self.conn()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let number: i64 = tx.query_row(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM model_versions WHERE product_id = ?1",
            [product],
            |r| r.get(0),
        )?;
        tx.execute(
            "INSERT INTO model_versions (product_id, number, dsl_text, sha256, original_name,
                 original_bytes, artifact_key, uploaded_by, uploaded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                product,
                number,
                version.dsl_text,
                sha,
                version.original_name,
                version.original_bytes,
                version.artifact_key,
                uploaded_by,
                now()
            ],
        )?;
        let id = tx.last_insert_rowid();
        let row = tx.query_row(
            &format!(
                "SELECT {VERSION_COLUMNS} FROM model_versions v
                 LEFT JOIN users u ON u.id = v.uploaded_by WHERE v.id = ?1"
            ),
            [id],
            version_from_row,
        )?;
        tx.commit()?;
        Ok(row)
    }

    fn versions(&self, product: ProductId) -> Result<Vec<ModelVersion>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(&format!(
            "SELECT {VERSION_COLUMNS} FROM model_versions v
             LEFT JOIN users u ON u.id = v.uploaded_by
             WHERE v.product_id = ?1 ORDER BY v.number DESC"
        ))?;
        let rows = stmt.query_map([product], version_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn version(&self, product: ProductId, number: i64) -> Result<Option<ModelVersion>, StoreError> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                &format!(
                    "SELECT {VERSION_COLUMNS} FROM model_versions v
                     LEFT JOIN users u ON u.id = v.uploaded_by
                     WHERE v.product_id = ?1 AND v.number = ?2"
                ),
                params![product, number],
                version_from_row,
            )
            .optional()?)
    }

    fn latest_version(&self, product: ProductId) -> Result<Option<ModelVersion>, StoreError> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                &format!(
                    "SELECT {VERSION_COLUMNS} FROM model_versions v
                     LEFT JOIN users u ON u.id = v.uploaded_by
                     WHERE v.product_id = ?1 ORDER BY v.number DESC LIMIT 1"
                ),
                [product],
                version_from_row,
            )
            .optional()?)
    }

    fn save_draft(
        &self,
        version: VersionId,
        by: UserId,
        draft_json: &str,
    ) -> Result<(), StoreError> {
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO drafts (version_id, draft_json, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (version_id) DO UPDATE SET draft_json = excluded.draft_json,
                 created_by = excluded.created_by, created_at = excluded.created_at",
            params![version, draft_json, by, now()],
        )?;
        Ok(())
    }

    fn draft(&self, version: VersionId) -> Result<Option<String>, StoreError> {
        let conn = self.conn()?;
        Ok(conn
            .query_row(
                "SELECT draft_json FROM drafts WHERE version_id = ?1",
                [version],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn decisions(&self, product: ProductId) -> Result<DecisionsView, StoreError> {
        let conn = self.conn()?;
        let row: Option<(String, i64)> = conn
            .query_row(
                "SELECT decisions_json, version FROM decisions_current WHERE product_id = ?1",
                [product],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match row {
            Some((json, version)) => DecisionsView {
                json: Some(json),
                version,
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
        let mut conn = self.conn()?;
        // IMMEDIATE takes the write lock before the version is read, so two servers on one
        // file cannot both pass the check.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: i64 = tx
            .query_row(
                "SELECT version FROM decisions_current WHERE product_id = ?1",
                [product],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or(0);
        if current != expected_version {
            return Err(StoreError::Conflict {
                expected: expected_version,
                current,
            });
        }
        let next = current + 1;
        let t = now();
        for (key, payload) in events {
            tx.execute(
                "INSERT INTO decision_events (product_id, actor_id, at, threat_key, payload, version_after)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![product, actor, t, key, payload, next],
            )?;
        }
        tx.execute(
            "INSERT INTO decisions_current (product_id, decisions_json, version) VALUES (?1, ?2, ?3)
             ON CONFLICT (product_id) DO UPDATE SET decisions_json = excluded.decisions_json,
                 version = excluded.version",
            params![product, new_view_json, next],
        )?;
        tx.commit()?;
        Ok(next)
    }

    fn decision_events_since(
        &self,
        product: ProductId,
        version: i64,
    ) -> Result<Vec<DecisionEvent>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT e.id, u.username, e.at, e.threat_key, e.payload, e.version_after
             FROM decision_events e LEFT JOIN users u ON u.id = e.actor_id
             WHERE e.product_id = ?1 AND e.version_after > ?2 ORDER BY e.id",
        )?;
        let rows = stmt.query_map(params![product, version], |r| {
            Ok(DecisionEvent {
                id: r.get(0)?,
                actor: r.get(1)?,
                at: r.get(2)?,
                threat_key: r.get(3)?,
                payload: r.get(4)?,
                version_after: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn add_comment(
        &self,
        product: ProductId,
        author: UserId,
        threat_key: &str,
        body: &str,
    ) -> Result<i64, StoreError> {
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO comments (product_id, threat_key, author_id, at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![product, threat_key, author, now(), body],
        )?;
        Ok(conn.last_insert_rowid())
    }

    fn comments(&self, product: ProductId) -> Result<Vec<Comment>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT c.id, c.threat_key, u.username, c.at, c.body
             FROM comments c LEFT JOIN users u ON u.id = c.author_id
             WHERE c.product_id = ?1 ORDER BY c.id",
        )?;
        let rows = stmt.query_map([product], |r| {
            Ok(Comment {
                id: r.get(0)?,
                threat_key: r.get(1)?,
                author: r.get(2)?,
                at: r.get(3)?,
                body: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn audit(
        &self,
        actor: Option<UserId>,
        product: Option<ProductId>,
        action: &str,
        detail: &str,
    ) -> Result<(), StoreError> {
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO audit_events (at, actor_id, product_id, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![now(), actor, product, action, detail],
        )?;
        Ok(())
    }

    fn audit_events(
        &self,
        product: Option<ProductId>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        let conn = self.conn()?;
        let mut stmt = conn.prepare(
            "SELECT a.id, a.at, u.username, a.product_id, a.action, a.detail
             FROM audit_events a LEFT JOIN users u ON u.id = a.actor_id
             WHERE ?1 IS NULL OR a.product_id = ?1 ORDER BY a.id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![product, limit], |r| {
            Ok(AuditEvent {
                id: r.get(0)?,
                at: r.get(1)?,
                actor: r.get(2)?,
                product_id: r.get(3)?,
                action: r.get(4)?,
                detail: r.get(5)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
