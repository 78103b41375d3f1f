//! The `tmc_import::mermaid` importer on raw bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tmc_import::mermaid::import(data);
});
