//! Format detection plus whichever importer it picks; the first byte chooses the file name.
#![no_main]

use libfuzzer_sys::fuzz_target;

const NAMES: [&str; 7] = [
    "fuzz.json",
    "fuzz.yaml",
    "fuzz.drawio",
    "fuzz.drawio.svg",
    "fuzz.drawio.png",
    "fuzz.mmd",
    "fuzz.puml",
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(first) % NAMES.len()];
    let _ = tmc_import::import(rest, name, None);
});
