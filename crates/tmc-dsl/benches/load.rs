//! Model loading benchmark (run: `cargo bench -p tmc-dsl --bench load`). Prints figures; asserts
//! nothing. Issue 14: YAML budgets must not cap honest models (50 000 components load) and the
//! cost of parse + validate should stay linear in the model's size.

use std::time::Instant;

#[path = "../tests/support/synthetic.rs"]
mod synthetic;

fn main() {
    for n in [100usize, 1_000, 10_000, 50_000] {
        let text = synthetic::synthetic_yaml(n);
        let mut best = f64::MAX;
        let mut outcome = String::new();
        let runs = if n >= 10_000 { 3 } else { 10 };
        for _ in 0..runs {
            let started = Instant::now();
            let result = load(text.as_bytes());
            let ms = started.elapsed().as_secs_f64() * 1e3;
            best = best.min(ms);
            outcome = result;
        }
        println!(
            "yaml {n:>6} components {:>6} flows {:>6.1} MiB: {best:>8.1} ms ({:.2} µs per element+flow) {outcome}",
            3 * n,
            text.len() as f64 / (1024.0 * 1024.0),
            best * 1e3 / (4 * n) as f64,
        );
    }
}

fn load(bytes: &[u8]) -> String {
    match tmc_dsl::load_checked(bytes, "synthetic.yaml") {
        Ok((p, _)) => format!("ok ({} components)", p.model.components.len()),
        Err(e) => format!(
            "ERROR {}",
            e.0.first().map(|d| d.to_string()).unwrap_or_default()
        ),
    }
}
