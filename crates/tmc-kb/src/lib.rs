//! The knowledge base: what past reviews, organisation documents and public standards say,
//! stored so that drafting can retrieve it.
//!
//! * [`chunk`]: the unit of retrieval ([`Chunk`]) and its metadata.
//! * [`parse`]: pure, size-bounded parsers from bytes to chunks (CWE/CAPEC CSV, ASVS JSON/CSV,
//!   OWASP mappings, Markdown/text/HTML, our draft JSON and anything `tmc-import` reads).
//! * [`index`]: the [`Index`] trait and the embedded SQLite implementation ([`SqliteIndex`]:
//!   FTS5 BM25 plus f32 vectors with exact cosine), so a server backend can be added later.
//! * [`pg`]: the PostgreSQL + pgvector implementation ([`PgIndex`]) for a shared server.
//! * [`embed`]: the [`Embedder`] trait and an OpenAI-compatible `/v1/embeddings` client.
//! * [`search`]: hybrid retrieval (BM25 + dense, fused by reciprocal rank) with metadata filters.
//! * [`ingest`]: walking paths, idempotent by content hash, one transaction per source.
//! * [`augment`]: adding past accepted threats and ASVS requirements to a draft, and lowering
//!   the likelihood of rule threats that reviewers rejected for similar elements.
//! * [`context`]: source-labelled passages for the copilot's prompt.

pub mod augment;
pub mod chunk;
pub mod context;
pub mod embed;
pub mod error;
pub mod index;
pub mod ingest;
pub mod parse;
pub mod pg;
pub mod search;

pub use chunk::{Chunk, ChunkKind, ChunkMeta};
pub use embed::{Embedder, EmbeddingConfig, OpenAiEmbedder};
pub use error::KbError;
pub use index::{Filter, Index, SqliteIndex, StoredChunk};
pub use ingest::{IngestSummary, Progress, ingest_paths};
pub use pg::PgIndex;
pub use search::{Hit, KnowledgeBase, SearchOptions};

/// File name of the embedded index inside `<data dir>/kb/`.
pub const INDEX_FILE: &str = "index.sqlite3";

/// The embedded index's path under a data directory.
pub fn index_path(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("kb").join(INDEX_FILE)
}
