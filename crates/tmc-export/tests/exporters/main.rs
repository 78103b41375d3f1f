#![allow(clippy::unwrap_used)]
//! Integration tests for every exporter, in one test binary to keep link time down.

mod common;
mod diagram;
mod otm;
mod reviewed;
mod sarif;
mod sarif_validator;
mod table;
mod threagile;
mod threat_dragon;
