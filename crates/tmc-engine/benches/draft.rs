//! Engine benchmark (run: `cargo bench -p tmc-engine --bench draft`). Prints figures; asserts
//! nothing. Targets (issue 14): built-in rules loaded in well under a millisecond (no YAML at
//! start-up); 10 000 components / 30 000 flows under 250 ms of engine time and 300 MB peak;
//! cost linear from 100 to 50 000 components (the curve is printed; `BENCH_MAX_COMPONENTS`
//! caps it, e.g. on a small machine).

use std::time::Instant;

use tmc_engine::{DraftOptions, RuleSet, draft};
use tmc_model::*;

/// A synthetic model: a mix of technologies in three zones, `n` components, 3 flows each.
fn synthetic(n: usize) -> SystemModel {
    let techs = [
        (Technology::User, ElementKind::ExternalEntity),
        (Technology::WebApp, ElementKind::Process),
        (Technology::ApiService, ElementKind::Process),
        (Technology::Worker, ElementKind::Process),
        (Technology::Database, ElementKind::DataStore),
        (Technology::Queue, ElementKind::DataStore),
        (Technology::ObjectStorage, ElementKind::DataStore),
        (Technology::Cache, ElementKind::DataStore),
        (Technology::Llm, ElementKind::Process),
        (Technology::IdentityProvider, ElementKind::Process),
    ];
    let zones = [TrustZone::Internet, TrustZone::Dmz, TrustZone::Internal];
    let components: Vec<Component> = (0..n)
        .map(|i| {
            let (technology, kind) = techs[i % techs.len()];
            Component {
                id: format!("c{i}"),
                name: format!("Component {i}"),
                description: None,
                kind,
                technology,
                trust_zone: Some(if kind == ElementKind::ExternalEntity {
                    TrustZone::Internet
                } else {
                    zones[1 + i % 2]
                }),
                internet_facing: Some(i % 7 == 1),
                in_scope: true,
                custom_developed: Some(i % 3 == 0),
                authentication: (i % 4 != 0).then_some(Authentication {
                    scheme: AuthScheme::Oidc,
                    mfa: Some(i % 8 == 1),
                }),
                authorization: (i % 5 != 0).then_some(Authorization::Rbac),
                input_validation: Some(i % 2 == 0),
                output_encoding: None,
                encryption_at_rest: Some(i % 3 != 0),
                logging: Some(Logging::Basic),
                hardening: None,
                rate_limiting: Some(i % 2 == 1),
                backups: None,
                multi_tenant: None,
                secrets: Some(SecretsHandling::Vault),
                runs_untrusted_code: None,
                public_access: None,
                model: None,
                device: None,
                tags: Vec::new(),
                notes: None,
            }
        })
        .collect();
    let data: Vec<DataAsset> = (0..(n / 10).max(1))
        .map(|i| DataAsset {
            id: format!("d{i}"),
            name: format!("Data {i}"),
            description: None,
            classification: [
                Classification::Internal,
                Classification::Confidential,
                Classification::Restricted,
            ][i % 3],
            pii: Some(i % 2 == 0),
            credentials: Some(i % 5 == 0),
            financial: None,
            confidentiality: None,
            integrity: None,
            availability: None,
            stored_in: vec![format!("c{}", (i * 10 + 4) % n)],
            processed_by: Vec::new(),
            notes: None,
        })
        .collect();
    let mut flows = Vec::with_capacity(n * 3);
    for i in 0..n {
        for k in 1..=3 {
            let j = (i + k * 7 + 1) % n;
            flows.push(Flow {
                id: format!("f{i}-{k}"),
                name: None,
                from: format!("c{i}"),
                to: format!("c{j}"),
                protocol: Some(Protocol::Https),
                port: None,
                authentication: (k != 2).then_some(AuthScheme::Jwt),
                encryption: Some(if k == 3 {
                    Encryption::None
                } else {
                    Encryption::Tls12
                }),
                data: vec![format!("d{}", i % data.len())],
                data_received: Vec::new(),
                bidirectional: None,
                description: None,
                notes: None,
            });
        }
    }
    let trust_boundaries = vec![
        TrustBoundary {
            id: "dmz".into(),
            name: "DMZ".into(),
            kind: BoundaryKind::Network,
            description: None,
            members: (0..n)
                .filter(|i| i % 2 == 1)
                .map(|i| format!("c{i}"))
                .collect(),
            boundaries: Vec::new(),
            notes: None,
        },
        TrustBoundary {
            id: "internal".into(),
            name: "Internal".into(),
            kind: BoundaryKind::Vpc,
            description: None,
            members: (0..n)
                .filter(|i| i % 2 == 0 && i % 10 != 0)
                .map(|i| format!("c{i}"))
                .collect(),
            boundaries: Vec::new(),
            notes: None,
        },
    ];
    SystemModel {
        version: 1,
        product: Product {
            name: format!("synthetic-{n}"),
            business_criticality: Some(Criticality::High),
            ..Default::default()
        },
        components,
        data,
        flows,
        trust_boundaries,
        notes: None,
    }
}

fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn main() {
    let mut loads = Vec::new();
    for _ in 0..20 {
        let start = Instant::now();
        let ok = RuleSet::builtin().is_ok();
        loads.push((start.elapsed().as_secs_f64() * 1000.0, ok));
    }
    loads.sort_by(|a, b| a.0.total_cmp(&b.0));
    println!(
        "RuleSet::builtin(): {:.3} ms median of 20 (min {:.3} ms)",
        loads[loads.len() / 2].0,
        loads[0].0
    );
    let rules = match RuleSet::builtin() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rules failed to load: {e:?}");
            return;
        }
    };
    println!("rules loaded: {}", rules.len());
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if let Ok(rd) = std::fs::read_dir(repo.join("examples")) {
        let mut paths: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            let Ok(bytes) = std::fs::read(&p) else {
                continue;
            };
            let Ok((parsed, _)) = tmc_dsl::load_checked(&bytes, "x") else {
                continue;
            };
            let iters = 50;
            let start = Instant::now();
            let mut threats = 0;
            for _ in 0..iters {
                threats = draft(&parsed.model, &rules, &DraftOptions::default())
                    .threats
                    .len();
            }
            let per = start.elapsed().as_secs_f64() * 1000.0 / iters as f64;
            println!(
                "example {:<28} {:>3} components {:>3} flows -> {:>3} threats: {per:.2} ms/draft",
                p.file_name()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                parsed.model.components.len(),
                parsed.model.flows.len(),
                threats
            );
        }
    }
    let max: usize = std::env::var("BENCH_MAX_COMPONENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50_000);
    println!("synthetic models (engine time of one draft; peak is the process high-water mark):");
    for n in [100usize, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000] {
        if n > max {
            break;
        }
        let model = synthetic(n);
        // Facts alone (part of the draft's time): what the engine derives before any rule runs.
        let start = Instant::now();
        let facts_components = tmc_engine::facts::Facts::new(&model).components.len();
        let facts_ms = start.elapsed().as_secs_f64() * 1000.0;
        let before = rss_kib("VmRSS:");
        let start = Instant::now();
        let d = draft(&model, &rules, &DraftOptions::default());
        let secs = start.elapsed().as_secs_f64();
        let peak = rss_kib("VmHWM:");
        let threats = d.threats.len();
        drop(d);
        println!(
            "synthetic {n:>6} components {:>6} flows -> {threats:>6} threats: {:>8.1} ms ({:.2} µs per element+flow; facts {facts_ms:.1} ms for {facts_components}), RSS before {} MiB, peak {} MiB",
            model.flows.len(),
            secs * 1000.0,
            secs * 1e6 / (n + model.flows.len()) as f64,
            before / 1024,
            peak / 1024
        );
    }
}
