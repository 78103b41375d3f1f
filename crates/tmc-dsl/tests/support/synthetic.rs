//! A synthetic model written as YAML text, the way a person (or an exporter) would write a big
//! system: block style, one field per line. Shared by the budget tests and the load bench, so the
//! figure the bench prints is for the same text the test proves loads.
//!
//! Shape (mirrors the engine bench's `synthetic`): `n` components over ten technologies and
//! three zones, `3n` flows, `n/10` data assets, two trust boundaries holding most components.

use std::fmt::Write;

const TECHS: [(&str, &str); 10] = [
    ("user", "external-entity"),
    ("web-app", "process"),
    ("api-service", "process"),
    ("worker", "process"),
    ("database", "data-store"),
    ("queue", "data-store"),
    ("object-storage", "data-store"),
    ("cache", "data-store"),
    ("llm", "process"),
    ("identity-provider", "process"),
];

/// YAML text of a model with `n` components (n ≥ 1).
pub fn synthetic_yaml(n: usize) -> String {
    let mut s = String::with_capacity(n * 900);
    // `write!` into a String cannot fail; the results are ignored on purpose.
    let _ = writeln!(
        s,
        "version: 1\nproduct:\n  name: synthetic-{n}\n  business_criticality: high\ncomponents:"
    );
    for i in 0..n {
        let (tech, kind) = TECHS[i % TECHS.len()];
        let zone = if kind == "external-entity" {
            "internet"
        } else if i % 2 == 0 {
            "internal"
        } else {
            "dmz"
        };
        let _ = writeln!(
            s,
            "  - id: c{i}\n    name: Component {i}\n    kind: {kind}\n    technology: {tech}\n    trust_zone: {zone}"
        );
        let _ = writeln!(
            s,
            "    internet_facing: {}\n    custom_developed: {}",
            i % 7 == 1,
            i % 3 == 0
        );
        if i % 4 != 0 {
            let _ = writeln!(
                s,
                "    authentication:\n      scheme: oidc\n      mfa: {}",
                i % 8 == 1
            );
        }
        if i % 5 != 0 {
            let _ = writeln!(s, "    authorization: rbac");
        }
        let _ = writeln!(
            s,
            "    input_validation: {}\n    encryption_at_rest: {}\n    logging: basic\n    rate_limiting: {}\n    secrets: vault",
            i % 2 == 0,
            i % 3 != 0,
            i % 2 == 1
        );
    }
    let data = (n / 10).max(1);
    s.push_str("data:\n");
    for i in 0..data {
        let class = ["internal", "confidential", "restricted"][i % 3];
        let _ = writeln!(
            s,
            "  - id: d{i}\n    name: Data {i}\n    classification: {class}\n    pii: {}\n    credentials: {}\n    stored_in: [c{}]",
            i % 2 == 0,
            i % 5 == 0,
            (i * 10 + 4) % n
        );
    }
    s.push_str("flows:\n");
    for i in 0..n {
        for k in 1..=3 {
            let j = (i + k * 7 + 1) % n;
            let _ = writeln!(
                s,
                "  - id: f{i}-{k}\n    from: c{i}\n    to: c{j}\n    protocol: https"
            );
            if k != 2 {
                let _ = writeln!(s, "    authentication: jwt");
            }
            let enc = if k == 3 { "none" } else { "tls-1.2" };
            let _ = writeln!(s, "    encryption: {enc}\n    data: [d{}]", i % data);
        }
    }
    s.push_str("trust_boundaries:\n  - id: dmz\n    name: DMZ\n    kind: network\n    members:\n");
    for i in (0..n).filter(|i| i % 2 == 1) {
        let _ = writeln!(s, "      - c{i}");
    }
    s.push_str("  - id: internal\n    name: Internal\n    kind: vpc\n    members:\n");
    for i in (0..n).filter(|i| i % 2 == 0 && i % 10 != 0) {
        let _ = writeln!(s, "      - c{i}");
    }
    s
}
