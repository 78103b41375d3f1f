//! Shared by the integration tests (and, through `#[path]`, the load bench).
pub mod synthetic;
