//! Retrieval quality and speed on the shared standards (`cargo bench -p tmc-kb`).
//!
//! Labelled query sets, built from the data itself:
//! * `cwe-desc`: the first sentence of each CWE description → that CWE (kind=cwe).
//! * `asvs→cwe`: each ASVS 4.0.3 requirement text → any CWE that ASVS maps it to (kind=cwe);
//!   a cross-document task, unlike the first.
//!
//! Prints recall@10 and MRR for BM25, dense and hybrid (dense and hybrid only when an
//! OpenAI-compatible embedder is given by `TMC_KB_BENCH_EMBED_URL` and
//! `TMC_KB_BENCH_EMBED_MODEL`), ingest chunks/s and query latency p50/p95.

use std::path::Path;
use std::time::Instant;

use tmc_kb::embed::{Embedder, OpenAiEmbedder};
use tmc_kb::index::{Index, SqliteIndex};
use tmc_kb::ingest::NoProgress;
use tmc_kb::parse::parse_file;
use tmc_kb::search::{KnowledgeBase, SearchMode, SearchOptions};
use tmc_kb::{ChunkKind, Filter};

struct Query {
    text: String,
    relevant: Vec<String>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn run(kb: &KnowledgeBase, name: &str, queries: &[Query], mode: SearchMode) {
    let mut hits10 = 0usize;
    let mut rr = 0.0f64;
    let mut times = Vec::with_capacity(queries.len());
    for q in queries {
        let opts = SearchOptions {
            k: 10,
            filter: Filter::default().with("kind", &["cwe"]),
            mode: Some(mode),
        };
        let t = Instant::now();
        let Ok(res) = kb.search(&q.text, &opts) else {
            continue;
        };
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        if let Some(pos) = res
            .hits
            .iter()
            .position(|h| q.relevant.contains(&h.chunk.key))
        {
            hits10 += 1;
            rr += 1.0 / (pos + 1) as f64;
        }
    }
    times.sort_by(f64::total_cmp);
    let n = queries.len().max(1) as f64;
    println!(
        "{name:<10} {:<8} queries {:>4}  recall@10 {:>5.1}%  MRR {:.3}  p50 {:>6.2} ms  p95 {:>6.2} ms",
        match mode {
            SearchMode::Lexical => "bm25",
            SearchMode::Dense => "dense",
            SearchMode::Hybrid => "hybrid",
        },
        queries.len(),
        hits10 as f64 / n * 100.0,
        rr / n,
        percentile(&times, 0.5),
        percentile(&times, 0.95)
    );
}

fn main() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kb");
    let cwe_csv = shared.join("cwe/1000.csv");
    let asvs = shared.join("asvs/OWASP_Application_Security_Verification_Standard_4.0.3_en.json");
    let embedder: Option<Box<dyn Embedder>> = match (
        std::env::var("TMC_KB_BENCH_EMBED_URL"),
        std::env::var("TMC_KB_BENCH_EMBED_MODEL"),
    ) {
        (Ok(url), Ok(model)) => Some(Box::new(OpenAiEmbedder::new(
            &url,
            &model,
            std::env::var("TMC_KB_BENCH_EMBED_KEY").ok(),
        ))),
        _ => None,
    };
    let mut index = match SqliteIndex::in_memory() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("cannot open an in-memory index: {e}");
            return;
        }
    };
    let t = Instant::now();
    let summary = match tmc_kb::ingest_paths(
        &mut index,
        std::slice::from_ref(&shared),
        embedder.as_deref(),
        &NoProgress,
    ) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ingest failed: {e}");
            return;
        }
    };
    let secs = t.elapsed().as_secs_f64();
    println!(
        "ingest {}: {} chunks in {:.2} s = {:.0} chunks/s (embeddings: {})",
        shared.display(),
        summary.chunks_written,
        secs,
        summary.chunks_written as f64 / secs.max(1e-9),
        summary.embed_model.as_deref().unwrap_or("none")
    );
    if let Ok(stats) = index.stats() {
        println!("index: {} sources, {} chunks", stats.sources, stats.chunks);
    }

    // Query sets from the same files, parsed with the crate's own parsers.
    let read = |p: &Path| std::fs::read(p).unwrap_or_default();
    let cwe_chunks = parse_file("1000.csv", &read(&cwe_csv))
        .map(|p| p.chunks)
        .unwrap_or_default();
    let cwe_desc: Vec<Query> = cwe_chunks
        .iter()
        .filter(|c| c.kind == ChunkKind::Cwe)
        .filter_map(|c| {
            let first = c.text.split(". ").next()?.trim();
            (first.len() > 20).then(|| Query {
                text: first.to_string(),
                relevant: vec![c.key.clone()],
            })
        })
        .collect();
    let asvs_chunks = parse_file("asvs-4.0.3.json", &read(&asvs))
        .map(|p| p.chunks)
        .unwrap_or_default();
    let asvs_cwe: Vec<Query> = asvs_chunks
        .iter()
        .filter(|c| !c.meta.cwe.is_empty())
        .map(|c| Query {
            text: c.text.split("\nChapter:").next().unwrap_or("").to_string(),
            relevant: c.meta.cwe.iter().map(|n| format!("CWE-{n}")).collect(),
        })
        .collect();

    let kb = KnowledgeBase::new(Box::new(index), embedder);
    let mut modes = vec![SearchMode::Lexical];
    if kb.embedder.is_some() {
        modes.extend([SearchMode::Dense, SearchMode::Hybrid]);
    } else {
        println!(
            "dense/hybrid: not measured (no embedder; set TMC_KB_BENCH_EMBED_URL and TMC_KB_BENCH_EMBED_MODEL)"
        );
    }
    for mode in modes {
        run(&kb, "cwe-desc", &cwe_desc, mode);
        run(&kb, "asvs→cwe", &asvs_cwe, mode);
    }
}
