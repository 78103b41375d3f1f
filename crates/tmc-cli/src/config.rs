//! Configuration for the command line: the settings types and their merge live in
//! `tmc_app::settings` (shared with the server); this module only passes the process
//! environment in.

pub use tmc_app::settings::*;

/// The process environment as the application layer looks it up.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}
