//! Retrieval quality and speed (`cargo bench -p tmc-kb --features local-embeddings --bench
//! retrieval`). Prints figures; asserts nothing.
//!
//! Embedder: the local all-MiniLM-L6-v2 when `TMC_TEST_MINILM_DIR` names its directory (and the
//! `local-embeddings` feature is on), else an OpenAI-compatible server given by
//! `TMC_KB_BENCH_EMBED_URL` and `TMC_KB_BENCH_EMBED_MODEL` (`TMC_KB_BENCH_EMBED_KEY`), else
//! none (BM25 figures only).
//!
//! 1. Embedding throughput: sentences/s at batch 1, 16 and 32 texts per forward pass (CWE
//!    names, CWE first sentences).
//! 2. Ingest of `shared/kb`: chunks/s with BM25 only and with embeddings.
//! 3. Quality on labelled query sets built from the data itself, recall@10 and MRR for BM25,
//!    dense and hybrid:
//!    * `cwe-desc`: the first sentence of each CWE description → that CWE (kind=cwe).
//!    * `asvs→cwe`: each ASVS 4.0.3 requirement text → any CWE that ASVS maps it to (kind=cwe);
//!      a cross-document task, unlike the first.
//! 4. Query latency p50/p95 on a file-backed SQLite index of synthetic chunks (10 k and 100 k;
//!    `TMC_KB_BENCH_SIZES=10000,100000` to change): texts drawn from the CWE vocabulary, random
//!    unit vectors for the corpus (embedding 100 k texts would take ~15 minutes and does not
//!    change the cost of an exact search), real embeddings of real query texts.
//!
//! Query vectors are computed ahead in batches and served from a table during the timed
//! searches, so latencies are retrieval only; the embedding cost of one query is the batch-1
//! figure of section 1.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use tmc_kb::chunk::{Chunk, ChunkMeta};
use tmc_kb::embed::{Embedder, OpenAiEmbedder};
use tmc_kb::index::{Index, SourceRecord, SqliteIndex, StoredChunk};
use tmc_kb::ingest::NoProgress;
use tmc_kb::parse::parse_file;
use tmc_kb::search::{KnowledgeBase, SearchMode, SearchOptions};
use tmc_kb::{ChunkKind, Filter, KbError};

struct Query {
    text: String,
    relevant: Vec<String>,
}

/// Vectors computed ahead, served by text.
struct Precomputed {
    id: String,
    vectors: HashMap<String, Vec<f32>>,
}

impl Embedder for Precomputed {
    fn model_id(&self) -> String {
        self.id.clone()
    }
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, KbError> {
        texts
            .iter()
            .map(|t| {
                self.vectors
                    .get(t)
                    .cloned()
                    .ok_or_else(|| KbError::Embedding(format!("not precomputed: {t}")))
            })
            .collect()
    }
}

/// xorshift64*: a fixed-seed generator, so every run builds the same synthetic corpus.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Normal(0, 1) by Box–Muller: random directions need a rotation-invariant distribution.
    fn normal(&mut self) -> f32 {
        let (u, v) = (self.unit().max(1e-12), self.unit());
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    }
    fn unit_vector(&mut self, dim: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..dim).map(|_| self.normal()).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
        v.into_iter().map(|x| x / n).collect()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn mode_name(mode: SearchMode) -> &'static str {
    match mode {
        SearchMode::Lexical => "bm25",
        SearchMode::Dense => "dense",
        SearchMode::Hybrid => "hybrid",
    }
}

fn quality(kb: &KnowledgeBase, name: &str, queries: &[Query], mode: SearchMode) {
    let mut hits10 = 0usize;
    let mut rr = 0.0f64;
    let mut times = Vec::with_capacity(queries.len());
    let mut failed = 0usize;
    for q in queries {
        let opts = SearchOptions {
            k: 10,
            filter: Filter::default().with("kind", &["cwe"]),
            mode: Some(mode),
        };
        let t = Instant::now();
        let Ok(res) = kb.search(&q.text, &opts) else {
            failed += 1;
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
        "  {name:<9} {:<7} queries {:>4}  recall@10 {:>5.1}%  MRR {:.3}  p50 {:>6.2} ms  p95 {:>6.2} ms{}",
        mode_name(mode),
        queries.len(),
        hits10 as f64 / n * 100.0,
        rr / n,
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        if failed > 0 {
            format!("  ({failed} failed)")
        } else {
            String::new()
        }
    );
}

/// Sentences/s embedding `texts` one call per `batch` texts.
fn throughput(e: &dyn Embedder, texts: &[String], batch: usize) -> Option<f64> {
    let t = Instant::now();
    for group in texts.chunks(batch) {
        if let Err(err) = e.embed(group) {
            eprintln!("embedding failed: {err}");
            return None;
        }
    }
    Some(texts.len() as f64 / t.elapsed().as_secs_f64().max(1e-9))
}

fn ingest(index: &mut SqliteIndex, shared: &Path, embedder: Option<&dyn Embedder>, label: &str) {
    let t = Instant::now();
    match tmc_kb::ingest_paths(index, &[shared.to_path_buf()], embedder, &NoProgress) {
        Ok(s) => {
            let secs = t.elapsed().as_secs_f64();
            println!(
                "  {label:<18} {} chunks in {:.2} s = {:.0} chunks/s",
                s.chunks_written,
                secs,
                s.chunks_written as f64 / secs.max(1e-9)
            );
        }
        Err(e) => eprintln!("ingest failed: {e}"),
    }
}

#[cfg(feature = "local-embeddings")]
type LocalModel = tmc_kb::embed::local::LocalEmbedder;
#[cfg(not(feature = "local-embeddings"))]
type LocalModel = ();

/// The local model from `TMC_TEST_MINILM_DIR`, if set.
#[cfg(feature = "local-embeddings")]
fn local_model() -> Option<LocalModel> {
    let dir = std::env::var("TMC_TEST_MINILM_DIR")
        .ok()
        .filter(|d| !d.is_empty())?;
    LocalModel::load(Path::new(&dir), None)
        .map_err(|e| eprintln!("TMC_TEST_MINILM_DIR: {e}"))
        .ok()
}
#[cfg(not(feature = "local-embeddings"))]
fn local_model() -> Option<LocalModel> {
    None
}

/// Sentences/s at `batch` texts per forward pass: the local model's batch size is set to it,
/// so one call is one pass; other embedders get one call per `batch` texts.
fn rate(
    e: &dyn Embedder,
    local: Option<&mut LocalModel>,
    texts: &[String],
    batch: usize,
) -> Option<f64> {
    #[cfg(feature = "local-embeddings")]
    if let Some(l) = local {
        l.batch_size = batch;
        return throughput(l, texts, batch);
    }
    #[cfg(not(feature = "local-embeddings"))]
    let _ = local;
    throughput(e, texts, batch)
}

/// The configured embedder: local, else OpenAI-compatible, else none.
fn embedder() -> Option<Box<dyn Embedder>> {
    #[cfg(feature = "local-embeddings")]
    if let Some(l) = local_model() {
        return Some(Box::new(l));
    }
    match (
        std::env::var("TMC_KB_BENCH_EMBED_URL"),
        std::env::var("TMC_KB_BENCH_EMBED_MODEL"),
    ) {
        (Ok(url), Ok(model)) => Some(Box::new(OpenAiEmbedder::new(
            &url,
            &model,
            std::env::var("TMC_KB_BENCH_EMBED_KEY").ok(),
        ))),
        _ => None,
    }
}

/// Words of the real corpus, most frequent first, for synthetic chunks that tokenise and rank
/// like real ones.
fn vocabulary(chunks: &[Chunk]) -> Vec<String> {
    let mut counts: HashMap<String, usize> = HashMap::new();
    for w in chunks
        .iter()
        .flat_map(|c| c.text.split(|ch: char| !ch.is_alphanumeric()))
        .filter(|w| w.len() > 2)
    {
        *counts.entry(w.to_lowercase()).or_default() += 1;
    }
    let mut words: Vec<(String, usize)> = counts.into_iter().collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    words.into_iter().map(|(w, _)| w).collect()
}

/// A word of `vocab`, low indexes far more often (u³), so a few words are common and most rare.
fn word<'a>(vocab: &'a [String], rng: &mut Rng) -> &'a str {
    let u = rng.unit();
    &vocab[((u * u * u) * vocab.len() as f64) as usize % vocab.len()]
}

/// A file-backed index of `n` synthetic chunks (85 words each, words drawn with a skew so some
/// are common and most rare, as in text) with random unit vectors of `dim`.
fn synthetic_index(
    dir: &Path,
    n: usize,
    vocab: &[String],
    model: &str,
    dim: usize,
) -> Result<SqliteIndex, KbError> {
    let mut index = SqliteIndex::open(&dir.join(format!("synthetic-{n}.sqlite3")))?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ n as u64);
    let per_source = 1000;
    for s in 0..n.div_ceil(per_source) {
        let count = per_source.min(n - s * per_source);
        let chunks: Vec<StoredChunk> = (0..count)
            .map(|i| {
                let title: Vec<&str> = (0..5).map(|_| word(vocab, &mut rng)).collect();
                let text: Vec<&str> = (0..80).map(|_| word(vocab, &mut rng)).collect();
                StoredChunk {
                    chunk: Chunk {
                        key: format!("S{s}-{i}"),
                        kind: if i % 4 == 0 {
                            ChunkKind::Cwe
                        } else {
                            ChunkKind::Doc
                        },
                        title: title.join(" "),
                        text: text.join(" "),
                        meta: ChunkMeta::default(),
                    },
                    embedding: Some(rng.unit_vector(dim)),
                }
            })
            .collect();
        let record = SourceRecord {
            path: format!("/synthetic/{s}.md"),
            name: format!("{s}.md"),
            format: "markdown".into(),
            hash: format!("{s}"),
            embed_model: Some(model.to_string()),
            chunks: chunks.len(),
        };
        index.replace_source(&record, &chunks)?;
    }
    Ok(index)
}

fn latency(kb: &KnowledgeBase, queries: &[String], mode: SearchMode, filter: &Filter) -> String {
    let opts = SearchOptions {
        k: 10,
        filter: filter.clone(),
        mode: Some(mode),
    };
    let mut times = Vec::with_capacity(queries.len());
    for q in queries {
        let t = Instant::now();
        if kb.search(q, &opts).is_err() {
            return format!("{:<7} failed", mode_name(mode));
        }
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    format!(
        "{:<7} p50 {:>7.2} ms  p95 {:>7.2} ms",
        mode_name(mode),
        percentile(&times, 0.5),
        percentile(&times, 0.95)
    )
}

/// FTS5's own `ORDER BY bm25() LIMIT` (scores every match) on the first 30 queries: latency,
/// and how many of its top 10 the in-memory BM25 returns in the same order.
fn fts5_reference(kb: &KnowledgeBase, reference: &SqliteIndex, queries: &[String]) -> String {
    let mut times = Vec::new();
    let (mut same, mut total) = (0usize, 0usize);
    for q in queries.iter().take(30) {
        let t = Instant::now();
        let Ok(theirs) = reference.search_lexical_fts5(q, &Filter::default(), 10) else {
            return "fts5    failed".into();
        };
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        let Ok(ours) = kb.index.search_lexical(q, &Filter::default(), 10) else {
            return "bm25    failed".into();
        };
        total += theirs.len();
        same += theirs.iter().zip(&ours).filter(|(a, b)| a.0 == b.0).count();
    }
    times.sort_by(f64::total_cmp);
    format!(
        "fts5    p50 {:>7.2} ms  p95 {:>7.2} ms  (FTS5 ranking every match, {} queries; in-memory bm25 top 10 identical at {same} of {total} ranks)",
        percentile(&times, 0.5),
        percentile(&times, 0.95),
        times.len()
    )
}

fn main() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/kb");
    let read = |p: &Path| std::fs::read(p).unwrap_or_default();
    let cwe_chunks = parse_file("1000.csv", &read(&shared.join("cwe/1000.csv")))
        .map(|p| p.chunks)
        .unwrap_or_default();
    let asvs_chunks = parse_file(
        "asvs-4.0.3.json",
        &read(&shared.join("asvs/OWASP_Application_Security_Verification_Standard_4.0.3_en.json")),
    )
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
    let asvs_cwe: Vec<Query> = asvs_chunks
        .iter()
        .filter(|c| !c.meta.cwe.is_empty())
        .map(|c| Query {
            text: c.text.split("\nChapter:").next().unwrap_or("").to_string(),
            relevant: c.meta.cwe.iter().map(|n| format!("CWE-{n}")).collect(),
        })
        .collect();

    let embedder = embedder();
    let model_id = embedder.as_ref().map(|e| e.model_id());
    println!(
        "embedder: {}",
        model_id.as_deref().unwrap_or(
            "none (set TMC_TEST_MINILM_DIR, or TMC_KB_BENCH_EMBED_URL and TMC_KB_BENCH_EMBED_MODEL)"
        )
    );

    // 1. Embedding throughput.
    if let Some(e) = embedder.as_deref() {
        println!("\n1. embedding throughput");
        let names: Vec<String> = cwe_chunks
            .iter()
            .filter(|c| c.kind == ChunkKind::Cwe)
            .map(|c| c.title.clone())
            .collect();
        let sentences: Vec<String> = cwe_desc.iter().map(|q| q.text.clone()).collect();
        // A second instance of the local model whose batch size each measurement sets.
        let mut local = local_model();
        let _ = e.embed(&sentences[..8.min(sentences.len())]); // warm-up
        for (what, texts) in [("CWE names", &names), ("CWE first sentences", &sentences)] {
            let words = texts
                .iter()
                .map(|s| s.split_whitespace().count())
                .sum::<usize>() as f64
                / texts.len().max(1) as f64;
            for (batch, n) in [(1usize, 64usize), (16, 256), (32, 512)] {
                let n = n.min(texts.len());
                if let Some(rate) = rate(e, local.as_mut(), &texts[..n], batch) {
                    println!(
                        "  {what:<20} ({words:>4.1} words on average) batch {batch:>2}: {rate:>6.1} sentences/s ({n} sentences)"
                    );
                }
            }
        }
    }

    // 2. Ingest.
    println!("\n2. ingest of {}", shared.display());
    let Ok(mut bm25_index) = SqliteIndex::in_memory() else {
        eprintln!("cannot open an in-memory index");
        return;
    };
    ingest(&mut bm25_index, &shared, None, "BM25 only");
    let mut index = bm25_index;
    if let Some(e) = embedder.as_deref() {
        let Ok(mut dense_index) = SqliteIndex::in_memory() else {
            return;
        };
        ingest(&mut dense_index, &shared, Some(e), "with embeddings");
        index = dense_index;
    }
    if let Ok(stats) = index.stats() {
        println!(
            "  index: {} sources, {} chunks, {} embedded",
            stats.sources, stats.chunks, stats.embedded_chunks
        );
    }

    // Query vectors, once, in batches.
    let mut all_queries: Vec<String> = cwe_desc
        .iter()
        .chain(&asvs_cwe)
        .map(|q| q.text.clone())
        .collect();
    all_queries.sort();
    all_queries.dedup();
    let precomputed: Option<Precomputed> = match (embedder.as_deref(), &model_id) {
        (Some(e), Some(id)) => match e.embed(&all_queries) {
            Ok(v) => Some(Precomputed {
                id: id.clone(),
                vectors: all_queries.iter().cloned().zip(v).collect(),
            }),
            Err(err) => {
                eprintln!("embedding the queries failed: {err}");
                None
            }
        },
        _ => None,
    };
    let dim = precomputed
        .as_ref()
        .and_then(|p| p.vectors.values().next().map(Vec::len))
        .unwrap_or(384);

    // 3. Quality.
    // The in-memory BM25 must rank exactly as FTS5 does on the real corpus too.
    let cwe_filter = Filter::default().with("kind", &["cwe"]);
    let (mut same, mut total) = (0usize, 0usize);
    for q in cwe_desc.iter().chain(&asvs_cwe) {
        if let (Ok(ours), Ok(theirs)) = (
            index.search_lexical(&q.text, &cwe_filter, 10),
            index.search_lexical_fts5(&q.text, &cwe_filter, 10),
        ) {
            total += theirs.len();
            same += theirs.iter().zip(&ours).filter(|(a, b)| a.0 == b.0).count();
        }
    }
    println!("  bm25 in memory vs FTS5's own ranking: {same} of {total} top-10 ranks identical");

    println!("\n3. quality (k=10, filter kind=cwe; latency excludes embedding the query)");
    let has_dense = precomputed.is_some();
    let kb = KnowledgeBase::new(
        Box::new(index),
        precomputed.map(|p| Box::new(p) as Box<dyn Embedder>),
    );
    let mut modes = vec![SearchMode::Lexical];
    if has_dense {
        modes.extend([SearchMode::Dense, SearchMode::Hybrid]);
    } else {
        println!("  dense/hybrid: not measured (no embedder)");
    }
    for set in [("cwe-desc", &cwe_desc), ("asvs→cwe", &asvs_cwe)] {
        for &mode in &modes {
            quality(&kb, set.0, set.1, mode);
        }
    }
    let vectors = kb.embedder;

    // 4. Latency at scale.
    let sizes: Vec<usize> = std::env::var("TMC_KB_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000]);
    let vocab = vocabulary(&cwe_chunks);
    let Ok(tmp) = tempfile::tempdir() else {
        eprintln!("no temporary directory");
        return;
    };
    // Real query texts; their real vectors when there is an embedder, else random ones.
    let queries: Vec<String> = cwe_desc
        .iter()
        .step_by(9)
        .take(100)
        .map(|q| q.text.clone())
        .collect();
    let (model, query_vectors): (String, Box<dyn Embedder>) = match vectors {
        Some(p) => (p.model_id(), p),
        None => {
            let mut rng = Rng(42);
            (
                "bench:random".into(),
                Box::new(Precomputed {
                    id: "bench:random".into(),
                    vectors: queries
                        .iter()
                        .map(|q| (q.clone(), rng.unit_vector(dim)))
                        .collect(),
                }),
            )
        }
    };
    println!(
        "\n4. latency on a file-backed SQLite index of synthetic chunks ({} queries, k=10, {dim} dims, vocabulary {} words)",
        queries.len(),
        vocab.len()
    );
    let mut query_vectors = Some(query_vectors);
    for n in sizes {
        if vocab.is_empty() || n == 0 {
            break;
        }
        let t = Instant::now();
        let index = match synthetic_index(tmp.path(), n, &vocab, &model, dim) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("building {n} chunks: {e}");
                break;
            }
        };
        let build = t.elapsed().as_secs_f64();
        // A second connection on the same file for FTS5's own ranking: the reference the
        // in-memory BM25 must agree with, and the "before" figure of issue 14.
        let reference = SqliteIndex::open(&tmp.path().join(format!("synthetic-{n}.sqlite3")));
        let kb = KnowledgeBase::new(Box::new(index), query_vectors.take());
        // The first lexical query builds the in-memory inverted index; shown apart.
        let t = Instant::now();
        let first_lex = kb.search(
            &queries[0],
            &SearchOptions {
                mode: Some(SearchMode::Lexical),
                ..SearchOptions::default()
            },
        );
        let first_lex_ms = t.elapsed().as_secs_f64() * 1000.0;
        // The first dense query may load the vectors into memory; shown apart.
        let t = Instant::now();
        let first = kb.search(
            &queries[0],
            &SearchOptions {
                mode: Some(SearchMode::Dense),
                ..SearchOptions::default()
            },
        );
        let first_ms = t.elapsed().as_secs_f64() * 1000.0;
        println!(
            "  {n:>7} chunks (written in {build:.1} s = {:.0} chunks/s; first dense query {first_ms:.0} ms{}; first bm25 query {first_lex_ms:.0} ms{})",
            n as f64 / build.max(1e-9),
            if first.is_err() { ", failed" } else { "" },
            if first_lex.is_err() { ", failed" } else { "" }
        );
        if let Ok(reference) = &reference {
            println!("    {}", fts5_reference(&kb, reference, &queries));
        }
        for mode in [SearchMode::Lexical, SearchMode::Dense, SearchMode::Hybrid] {
            println!("    {}", latency(&kb, &queries, mode, &Filter::default()));
        }
        let cwe_only = Filter::default().with("kind", &["cwe"]);
        for mode in [SearchMode::Dense, SearchMode::Hybrid] {
            println!(
                "    {}  (filter kind=cwe: 1 in 4 chunks)",
                latency(&kb, &queries, mode, &cwe_only)
            );
        }
        query_vectors = kb.embedder;
    }
}
