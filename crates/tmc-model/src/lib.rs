//! Data types at the bottom of tmc: the system model a developer writes and the draft threat
//! model tmc produces. This crate knows nothing about files, YAML or HTTP; it only defines
//! shapes (with serde and JSON Schema derives) so that every other crate agrees on them.

pub mod draft;
pub mod identity;
pub mod system;
pub mod topology;

pub use draft::*;
pub use system::*;
