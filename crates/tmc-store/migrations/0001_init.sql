-- tmc team server schema, version 1. Times are Unix seconds (UTC). Ids are integers.
-- Secrets (session ids, API tokens) are stored only as SHA-256 digests; passwords as Argon2id PHC strings.

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    display_name  TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    site_admin    INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    id_sha256  BLOB    PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions(expires_at);

-- Sign-in attempts, kept in the database so that several server instances share one limit.
CREATE TABLE login_attempts (
    id      INTEGER PRIMARY KEY,
    account TEXT    NOT NULL,
    ip      TEXT    NOT NULL,
    at      INTEGER NOT NULL,
    success INTEGER NOT NULL
);
CREATE INDEX login_attempts_key ON login_attempts(account, ip, at);

CREATE TABLE products (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL,
    description TEXT    NOT NULL DEFAULT '',
    created_by  INTEGER REFERENCES users(id),
    created_at  INTEGER NOT NULL
);

CREATE TABLE memberships (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    role       TEXT    NOT NULL CHECK (role IN ('viewer', 'developer', 'reviewer', 'admin')),
    PRIMARY KEY (user_id, product_id)
);

CREATE TABLE model_versions (
    id             INTEGER PRIMARY KEY,
    product_id     INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    number         INTEGER NOT NULL,
    dsl_text       TEXT    NOT NULL,
    sha256         TEXT    NOT NULL,
    original_name  TEXT    NOT NULL,
    original_bytes BLOB,
    artifact_key   TEXT,
    uploaded_by    INTEGER REFERENCES users(id),
    uploaded_at    INTEGER NOT NULL,
    UNIQUE (product_id, number)
);

CREATE TABLE drafts (
    version_id INTEGER PRIMARY KEY REFERENCES model_versions(id) ON DELETE CASCADE,
    draft_json TEXT    NOT NULL,
    created_by INTEGER REFERENCES users(id),
    created_at INTEGER NOT NULL
);

-- Every review edit, append-only (the triggers below refuse UPDATE and DELETE).
CREATE TABLE decision_events (
    id            INTEGER PRIMARY KEY,
    product_id    INTEGER NOT NULL REFERENCES products(id),
    actor_id      INTEGER REFERENCES users(id),
    at            INTEGER NOT NULL,
    threat_key    TEXT    NOT NULL,
    payload       TEXT    NOT NULL,
    version_after INTEGER NOT NULL
);
CREATE INDEX decision_events_product ON decision_events(product_id, version_after);
CREATE TRIGGER decision_events_no_update BEFORE UPDATE ON decision_events
BEGIN SELECT RAISE(ABORT, 'decision_events is append-only'); END;
CREATE TRIGGER decision_events_no_delete BEFORE DELETE ON decision_events
BEGIN SELECT RAISE(ABORT, 'decision_events is append-only'); END;

-- The current decisions file of a product; `version` grows by one per edit (optimistic concurrency).
CREATE TABLE decisions_current (
    product_id     INTEGER PRIMARY KEY REFERENCES products(id) ON DELETE CASCADE,
    decisions_json TEXT    NOT NULL,
    version        INTEGER NOT NULL
);

CREATE TABLE comments (
    id         INTEGER PRIMARY KEY,
    product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    threat_key TEXT    NOT NULL,
    author_id  INTEGER REFERENCES users(id),
    at         INTEGER NOT NULL,
    body       TEXT    NOT NULL
);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    token_sha256 BLOB  NOT NULL UNIQUE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    scopes     TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER
);

CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor_id   INTEGER REFERENCES users(id),
    product_id INTEGER REFERENCES products(id),
    action     TEXT    NOT NULL,
    detail     TEXT    NOT NULL
);
CREATE INDEX audit_events_product ON audit_events(product_id, id);
CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;
