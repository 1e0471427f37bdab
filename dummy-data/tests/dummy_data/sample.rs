use std::fs;

use dummy_data::generate::Counts;

use crate::helpers::{config, generated_files, sample_dir, FILES};

#[test]
fn checked_in_sample_is_what_seed_42_generates() {
    let generated = generated_files(&config(Counts::SMALL, 42));
    for (file, bytes) in FILES.iter().zip(generated) {
        let checked_in = fs::read(sample_dir().join(file)).expect("sample file");
        assert!(
            checked_in == bytes,
            "sample/{file} is stale; regenerate it with `cargo run -p dummy-data -- generate \
             --size small --seed 42 --now 2026-11-01T00:00:00Z --out dummy-data/sample`"
        );
    }
}
