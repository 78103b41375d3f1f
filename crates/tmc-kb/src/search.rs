//! Hybrid retrieval: BM25 and dense rankings fused by reciprocal rank (RRF).
//!
//! RRF uses ranks, not scores, because BM25 scores and cosines live on unrelated scales; a
//! chunk ranked well by both methods beats one ranked first by only one. With no embedder, the
//! BM25 ranking is returned as is and [`SearchResult::mode`] says so.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::embed::Embedder;
use crate::error::KbError;
use crate::index::{ChunkRow, Filter, Index};

/// The usual RRF constant (Cormack et al. 2009): damps the weight of the very first ranks.
pub const RRF_K: f64 = 60.0;

/// Candidates taken from each ranking before fusion.
const CANDIDATES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SearchMode {
    /// BM25 only (no embedder configured, or `--mode lexical`).
    Lexical,
    /// Dense only.
    Dense,
    /// BM25 + dense, fused by RRF.
    Hybrid,
}

impl SearchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SearchMode::Lexical => "bm25",
            SearchMode::Dense => "dense",
            SearchMode::Hybrid => "hybrid (bm25 + dense, rrf)",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchOptions {
    pub k: usize,
    pub filter: Filter,
    /// Which rankings to use; `None` means hybrid when an embedder is present, else BM25.
    pub mode: Option<SearchMode>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            k: 10,
            filter: Filter::default(),
            mode: None,
        }
    }
}

/// One ranked result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub rank: usize,
    /// Fused score (RRF) or the single method's score.
    pub score: f64,
    pub bm25: Option<f64>,
    pub cosine: Option<f64>,
    pub chunk: ChunkRow,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResult {
    pub mode: SearchMode,
    pub hits: Vec<Hit>,
}

/// An index plus the optional embedder used for queries.
pub struct KnowledgeBase {
    pub index: Box<dyn Index>,
    pub embedder: Option<Box<dyn Embedder>>,
}

/// Fuses rankings by reciprocal rank: `Σ 1 / (RRF_K + rank)`, ranks from 1. Ties broken by id
/// so results are deterministic.
pub fn rrf(rankings: &[Vec<i64>]) -> Vec<(i64, f64)> {
    let mut scores: BTreeMap<i64, f64> = BTreeMap::new();
    for ranking in rankings {
        for (i, id) in ranking.iter().enumerate() {
            *scores.entry(*id).or_default() += 1.0 / (RRF_K + (i + 1) as f64);
        }
    }
    let mut out: Vec<(i64, f64)> = scores.into_iter().collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

impl KnowledgeBase {
    pub fn new(index: Box<dyn Index>, embedder: Option<Box<dyn Embedder>>) -> Self {
        KnowledgeBase { index, embedder }
    }

    /// The mode a search with `opts` will run in.
    pub fn effective_mode(&self, opts: &SearchOptions) -> SearchMode {
        match (opts.mode, self.embedder.is_some()) {
            (Some(SearchMode::Lexical), _) | (_, false) => SearchMode::Lexical,
            (Some(m), true) => m,
            (None, true) => SearchMode::Hybrid,
        }
    }

    pub fn search(&self, query: &str, opts: &SearchOptions) -> Result<SearchResult, KbError> {
        let mode = self.effective_mode(opts);
        let k = opts.k.max(1);
        let lexical = if mode == SearchMode::Dense {
            Vec::new()
        } else {
            self.index
                .search_lexical(query, &opts.filter, CANDIDATES.max(k))?
        };
        let dense = match (&self.embedder, mode) {
            (Some(e), SearchMode::Dense | SearchMode::Hybrid) => {
                let v = e
                    .embed(&[query.to_string()])?
                    .into_iter()
                    .next()
                    .ok_or_else(|| KbError::Embedding("no vector for the query".into()))?;
                self.index
                    .search_dense(&v, &e.model_id(), &opts.filter, CANDIDATES.max(k))?
            }
            _ => Vec::new(),
        };
        let bm25: BTreeMap<i64, f64> = lexical.iter().copied().collect();
        let cos: BTreeMap<i64, f64> = dense.iter().copied().collect();
        let ranked: Vec<(i64, f64)> = match mode {
            SearchMode::Lexical => lexical.clone(),
            SearchMode::Dense => dense.clone(),
            SearchMode::Hybrid => rrf(&[
                lexical.iter().map(|x| x.0).collect(),
                dense.iter().map(|x| x.0).collect(),
            ]),
        };
        let top: Vec<(i64, f64)> = ranked.into_iter().take(k).collect();
        let ids: Vec<i64> = top.iter().map(|x| x.0).collect();
        let rows = self.index.chunks(&ids)?;
        let by_id: BTreeMap<i64, ChunkRow> = rows.into_iter().map(|r| (r.id, r)).collect();
        let hits = top
            .into_iter()
            .filter_map(|(id, score)| by_id.get(&id).cloned().map(|chunk| (id, score, chunk)))
            .enumerate()
            .map(|(i, (id, score, chunk))| Hit {
                rank: i + 1,
                score,
                bm25: bm25.get(&id).copied(),
                cosine: cos.get(&id).copied(),
                chunk,
            })
            .collect();
        Ok(SearchResult { mode, hits })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rrf_rewards_agreement() {
        // 2 is second in both lists; 1 and 3 are first in one list and absent from the other.
        let fused = rrf(&[vec![1, 2], vec![3, 2]]);
        assert_eq!(fused[0].0, 2);
        assert!((fused[0].1 - 2.0 / 62.0).abs() < 1e-12);
        assert_eq!(fused.len(), 3);
        // Ties (1 and 3) are ordered by id.
        assert_eq!(fused[1].0, 1);
        assert_eq!(fused[2].0, 3);
    }
}
