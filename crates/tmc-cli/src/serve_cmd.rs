//! `tmc serve`: the team server (web app + REST API) on the embedded SQLite store, and the
//! two administrative steps it needs before anyone can sign in: a first user, API tokens for CI.

use std::io::{BufRead, IsTerminal};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use tmc_store::{Role, Store};

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServeArgs {
    #[command(subcommand)]
    pub action: Option<ServeAction>,
    /// Address to listen on (default `[server] bind`, else 127.0.0.1:8470: put a TLS proxy
    /// in front for a team).
    #[arg(long)]
    pub bind: Option<SocketAddr>,
    /// The SQLite store (default: `<data dir>/server.sqlite3`).
    #[arg(long, value_name = "FILE", global = true)]
    pub db: Option<PathBuf>,
    /// A PostgreSQL store shared by several instances, `postgres://…` (default `[server]
    /// store_url`, `TMC_SERVER_STORE_URL`); wins over --db.
    #[arg(long, value_name = "URL", global = true, hide_env_values = true)]
    pub store_url: Option<String>,
    /// Plain-HTTP cookies, for trying the server on loopback without TLS. Never in production.
    #[arg(long)]
    pub insecure_cookies: bool,
}

#[derive(Subcommand)]
pub enum ServeAction {
    /// Create a user; the password is read from stdin (one line) or TMC_SERVER_PASSWORD.
    AddUser {
        username: String,
        #[arg(long)]
        display_name: Option<String>,
        /// May create products and administer every product.
        #[arg(long)]
        site_admin: bool,
    },
    /// Create an API token for CI (`Authorization: Bearer …`); printed once.
    Token {
        username: String,
        /// A name to recognise it by.
        #[arg(long, default_value = "ci")]
        name: String,
        /// The highest role the token acts with: viewer, developer, reviewer or admin.
        #[arg(long, default_value = "viewer")]
        role: String,
        /// Lifetime in days (default: no expiry).
        #[arg(long)]
        days: Option<i64>,
    },
}

fn db_path(args: &ServeArgs, data_dir: &Path) -> PathBuf {
    args.db
        .clone()
        .unwrap_or_else(|| data_dir.join("server.sqlite3"))
}

/// Where the store is: a PostgreSQL URL (flag, environment, `[server]`) or the SQLite file.
fn location(args: &ServeArgs, data_dir: &Path, cfg: &tmc_app::settings::ServerSettings) -> String {
    args.store_url
        .clone()
        .or_else(|| cfg.store_url(&crate::config::env))
        .unwrap_or_else(|| db_path(args, data_dir).display().to_string())
}

fn schema(cfg: &tmc_app::settings::ServerSettings) -> String {
    cfg.postgres_schema
        .clone()
        .unwrap_or_else(|| tmc_store::DEFAULT_PG_SCHEMA.to_string())
}

fn open(
    location: &str,
    cfg: &tmc_app::settings::ServerSettings,
) -> Result<std::sync::Arc<dyn Store>> {
    if !tmc_store::is_postgres_url(location)
        && let Some(dir) = Path::new(location)
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    tmc_store::open(location, &schema(cfg), 4).with_context(|| {
        if tmc_store::is_postgres_url(location) {
            "opening the PostgreSQL store".to_string()
        } else {
            format!("opening the store {location}")
        }
    })
}

fn parse_role(text: &str) -> Result<Role> {
    Ok(match text.trim().to_ascii_lowercase().as_str() {
        "viewer" => Role::Viewer,
        "developer" => Role::Developer,
        "reviewer" => Role::Reviewer,
        "admin" => Role::Admin,
        other => bail!("role `{other}`: use viewer, developer, reviewer or admin"),
    })
}

fn read_password() -> Result<String> {
    if let Ok(p) = std::env::var("TMC_SERVER_PASSWORD")
        && !p.is_empty()
    {
        return Ok(p);
    }
    if std::io::stdin().is_terminal() {
        eprint!("password (input is shown; pipe it or set TMC_SERVER_PASSWORD to avoid that): ");
    }
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let p = line.trim_end_matches(['\r', '\n']).to_string();
    if p.chars().count() < 12 {
        bail!("the password must have at least 12 characters");
    }
    Ok(p)
}

pub fn run(
    args: ServeArgs,
    data_dir: &Path,
    cfg: &tmc_app::settings::ServerSettings,
    quiet: bool,
) -> Result<()> {
    let path = db_path(&args, data_dir);
    let loc = location(&args, data_dir, cfg);
    let shown = if tmc_store::is_postgres_url(&loc) {
        "PostgreSQL".to_string()
    } else {
        loc.clone()
    };
    match &args.action {
        Some(ServeAction::AddUser {
            username,
            display_name,
            site_admin,
        }) => {
            let store = open(&loc, cfg)?;
            let password = read_password()?;
            store.create_user(
                username,
                display_name.as_deref().unwrap_or(username),
                &password,
                *site_admin,
            )?;
            if !quiet {
                eprintln!("user {username} created in {shown}");
            }
            Ok(())
        }
        Some(ServeAction::Token {
            username,
            name,
            role,
            days,
        }) => {
            let store = open(&loc, cfg)?;
            let user = store
                .user_by_name(username)?
                .with_context(|| format!("no user `{username}` in {shown}"))?;
            let (secret, id) = store.create_api_token(
                user.id,
                name,
                parse_role(role)?,
                days.map(|d| d * 86_400),
            )?;
            println!("{secret}");
            if !quiet {
                eprintln!("token {id} ({name}, up to {role}) for {username}; shown only now");
            }
            Ok(())
        }
        None => {
            let bind = match (&args.bind, &cfg.bind) {
                (Some(b), _) => *b,
                (None, Some(text)) => text
                    .parse()
                    .with_context(|| format!("[server] bind = {text:?} is not an address"))?,
                (None, None) => tmc_server::ServerConfig::default().bind,
            };
            let pg = tmc_store::is_postgres_url(&loc);
            let server = tmc_server::ServerConfig {
                bind,
                db_path: path.clone(),
                store_url: pg.then(|| loc.clone()),
                pg_schema: schema(cfg),
                cookie_secure: !args.insecure_cookies,
                ..tmc_server::ServerConfig::default()
            };
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            if !quiet {
                eprintln!(
                    "tmc server on http://{bind} (store {shown}); first user: `tmc serve add-user NAME --site-admin`"
                );
            }
            tmc_server::serve(server)?;
            Ok(())
        }
    }
}
