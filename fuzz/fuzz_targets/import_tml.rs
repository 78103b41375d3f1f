//! The `tmc_import::tml` importer on raw bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = tmc_import::tml::import(data);
});
