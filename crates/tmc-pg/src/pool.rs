//! A small blocking connection pool.
//!
//! Why not r2d2 or deadpool: the callers are synchronous and need three things only (a bound
//! on connections, a setup statement per new connection, and dropping a connection that broke),
//! which fit in this file without another dependency.

use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use postgres::Client;

use crate::{PgError, connect};

/// Runs on every new connection before it is handed out (e.g. `SET search_path`).
pub type Setup = Box<dyn Fn(&mut Client) -> Result<(), postgres::Error> + Send + Sync>;

struct State {
    idle: Vec<Client>,
    /// Connections open: idle plus handed out plus being opened.
    open: usize,
}

/// Up to `max` connections to one server, opened on demand and reused.
pub struct Pool {
    // Holds the password when the URL does: never printed (no `Debug`), never in errors.
    url: String,
    max: usize,
    wait: Duration,
    setup: Setup,
    state: Mutex<State>,
    freed: Condvar,
}

/// A connection on loan from a [`Pool`]; it goes back when dropped (or is discarded if it
/// broke).
pub struct PooledClient<'a> {
    pool: &'a Pool,
    client: Option<Client>,
}

impl Pool {
    /// Opens one connection right away, so a wrong URL, password or certificate is reported
    /// here rather than on the first request. `max` is at least 1; a caller waits up to `wait`
    /// for a free connection before [`Pool::get`] fails.
    pub fn new(url: &str, max: usize, wait: Duration, setup: Setup) -> Result<Pool, PgError> {
        let pool = Pool {
            url: url.to_string(),
            max: max.max(1),
            wait,
            setup,
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
            }),
            freed: Condvar::new(),
        };
        drop(pool.get()?);
        Ok(pool)
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, PgError> {
        self.state.lock().map_err(|_| PgError::Poisoned)
    }

    fn open_one(&self) -> Result<Client, PgError> {
        let mut client = connect(&self.url)?;
        (self.setup)(&mut client)?;
        Ok(client)
    }

    /// A connection: an idle one, a new one while fewer than `max` are open, or the next one
    /// returned within the wait.
    pub fn get(&self) -> Result<PooledClient<'_>, PgError> {
        let deadline = Instant::now() + self.wait;
        let mut state = self.lock()?;
        loop {
            while let Some(client) = state.idle.pop() {
                if client.is_closed() {
                    state.open -= 1;
                    continue;
                }
                return Ok(PooledClient {
                    pool: self,
                    client: Some(client),
                });
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                // Connect without holding the lock: a handshake takes milliseconds.
                return match self.open_one() {
                    Ok(client) => Ok(PooledClient {
                        pool: self,
                        client: Some(client),
                    }),
                    Err(e) => {
                        self.lock()?.open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(PgError::Connect(format!(
                    "all {} PostgreSQL connections stayed busy for {:?}",
                    self.max, self.wait
                )));
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .map_err(|_| PgError::Poisoned)?
                .0;
        }
    }

    /// Connections open now (idle or on loan).
    pub fn open_connections(&self) -> usize {
        self.lock().map(|s| s.open).unwrap_or(0)
    }

    /// The most connections this pool opens.
    pub fn max_connections(&self) -> usize {
        self.max
    }
}

impl Deref for PooledClient<'_> {
    type Target = Client;
    fn deref(&self) -> &Client {
        // Only `Drop` takes the client out.
        match &self.client {
            Some(c) => c,
            None => unreachable!("a pooled client is present until dropped"),
        }
    }
}

impl DerefMut for PooledClient<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        match &mut self.client {
            Some(c) => c,
            None => unreachable!("a pooled client is present until dropped"),
        }
    }
}

impl Drop for PooledClient<'_> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if let Ok(mut state) = self.pool.state.lock() {
            if client.is_closed() {
                state.open -= 1;
            } else {
                state.idle.push(client);
            }
        }
        self.pool.freed.notify_one();
    }
}
