//! The model DSL reader: `parse_model` (YAML or JSON, chosen by content), then `validate` on
//! whatever parsed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = tmc_dsl::parse_model(data, "threatmodel.yaml") {
        let _ = tmc_dsl::validate(&parsed);
    }
});
