#![allow(clippy::unwrap_used)]
//! Integration tests for every exporter, in one test binary to keep link time down.

mod common;
mod diagram;
mod otm;
mod sarif;
mod table;
mod threagile;
mod threat_dragon;
