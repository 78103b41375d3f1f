//! In-process sentence embeddings with candle: a BERT encoder (all-MiniLM-L6-v2 and its
//! relatives) read from a local directory, mean-pooled over the attention mask and
//! L2-normalised, as sentence-transformers does. Nothing is fetched at run time, so a
//! knowledge base can be embedded on a machine that must not send documents anywhere.
//!
//! The directory holds `model.safetensors`, `tokenizer.json` and `config.json` (the layout of a
//! sentence-transformers model; `shared/scripts/fetch-minilm.sh` makes one). When
//! `sentence_bert_config.json` is present its `max_seq_length` bounds the input, because that is
//! the length the model was trained with (256 word pieces for MiniLM, not the 512 positions the
//! BERT config allows); longer text is truncated, never refused.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config, DTYPE};
use serde::Deserialize;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use super::Embedder;
use crate::error::KbError;

/// Files a model directory must hold.
pub const REQUIRED_FILES: [&str; 3] = ["model.safetensors", "tokenizer.json", "config.json"];

/// Texts per forward pass. On the 2-core machine 8–16 was fastest for knowledge-base chunks
/// (up to 256 word pieces) and 16–32 for sentences; larger batches were slower (bigger
/// attention matrices, worse cache use), so 16.
pub const DEFAULT_BATCH: usize = 16;

/// A BERT sentence encoder running on the CPU.
pub struct LocalEmbedder {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    id: String,
    dim: usize,
    max_tokens: usize,
    /// Texts per forward pass.
    pub batch_size: usize,
}

/// `sentence_bert_config.json`: only the length the model was trained with matters here.
#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

fn err(dir: &Path, what: impl std::fmt::Display) -> KbError {
    KbError::Embedding(format!("local model {}: {what}", dir.display()))
}

impl LocalEmbedder {
    /// Loads the model in `dir`. `name` is the model's identity stored with the vectors
    /// (default: the directory's name), so vectors of different models are never compared.
    pub fn load(dir: &Path, name: Option<&str>) -> Result<Self, KbError> {
        if !dir.is_dir() {
            return Err(err(
                dir,
                "not a directory (kb.embeddings.path must name a directory holding model.safetensors, tokenizer.json and config.json; shared/scripts/fetch-minilm.sh makes one)",
            ));
        }
        let missing: Vec<&str> = REQUIRED_FILES
            .iter()
            .copied()
            .filter(|f| !dir.join(f).is_file())
            .collect();
        if !missing.is_empty() {
            return Err(err(
                dir,
                format!(
                    "missing {} (a sentence-transformers model directory holds {})",
                    missing.join(", "),
                    REQUIRED_FILES.join(", ")
                ),
            ));
        }
        let read = |f: &str| -> Result<Vec<u8>, KbError> {
            let p: PathBuf = dir.join(f);
            std::fs::read(&p).map_err(|source| KbError::Io { path: p, source })
        };
        let config: Config = serde_json::from_slice(&read("config.json")?)
            .map_err(|e| err(dir, format!("config.json is not a BERT configuration: {e}")))?;
        let trained_len = match dir.join("sentence_bert_config.json") {
            p if p.is_file() => {
                serde_json::from_slice::<SentenceBertConfig>(&read("sentence_bert_config.json")?)
                    .map_err(|e| err(dir, format!("sentence_bert_config.json: {e}")))?
                    .max_seq_length
            }
            _ => None,
        };
        let max_tokens = trained_len
            .unwrap_or(config.max_position_embeddings)
            .min(config.max_position_embeddings)
            .max(2);

        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| err(dir, format!("tokenizer.json: {e}")))?;
        // tokenizer.json of MiniLM pads every input to a fixed 128 and truncates at 128; both
        // are replaced: truncation at the trained length, padding to the longest in a batch.
        let padding = PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..tokenizer.get_padding().cloned().unwrap_or(PaddingParams {
                pad_id: config.pad_token_id as u32,
                ..PaddingParams::default()
            })
        };
        tokenizer.with_padding(Some(padding));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                ..TruncationParams::default()
            }))
            .map_err(|e| err(dir, format!("truncation at {max_tokens} tokens: {e}")))?;

        let device = Device::Cpu;
        // Read into memory rather than memory-mapped: mapping needs `unsafe`, which the
        // workspace forbids, and the file is small (90 MB for MiniLM).
        let tensors = candle_core::safetensors::load(dir.join("model.safetensors"), &device)
            .map_err(|e| err(dir, format!("model.safetensors: {e}")))?;
        let vb = VarBuilder::from_tensors(tensors, DTYPE, &device);
        let model = BertModel::load(vb, &config).map_err(|e| {
            err(
                dir,
                format!("model.safetensors does not fit config.json: {e}"),
            )
        })?;
        let id = name
            .filter(|n| !n.trim().is_empty())
            .map(str::to_string)
            .or_else(|| {
                dir.file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .filter(|n| !n.is_empty())
            })
            .unwrap_or_else(|| "bert".to_string());
        Ok(LocalEmbedder {
            model,
            tokenizer,
            device,
            id: format!("local:{id}"),
            dim: config.hidden_size,
            max_tokens,
            batch_size: DEFAULT_BATCH,
        })
    }

    /// Length of the vectors.
    pub fn dimension(&self) -> usize {
        self.dim
    }

    /// Word pieces per text (special tokens included) beyond which text is cut off.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, KbError> {
        let e = |what: &str, x: &dyn std::fmt::Display| {
            KbError::Embedding(format!("local model {}: {what}: {x}", self.id))
        };
        let enc = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|x| e("tokenizing", &x))?;
        let len = enc.first().map_or(0, |x| x.get_ids().len());
        let n = enc.len();
        let mut ids = Vec::with_capacity(n * len);
        let mut types = Vec::with_capacity(n * len);
        let mut mask = Vec::with_capacity(n * len);
        for x in &enc {
            if x.get_ids().len() != len {
                return Err(e("tokenizing", &"encodings of a batch differ in length"));
            }
            ids.extend_from_slice(x.get_ids());
            types.extend_from_slice(x.get_type_ids());
            mask.extend_from_slice(x.get_attention_mask());
        }
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = Tensor::from_vec(ids, (n, len), &self.device)?;
            let types = Tensor::from_vec(types, (n, len), &self.device)?;
            let mask = Tensor::from_vec(mask, (n, len), &self.device)?;
            let hidden = self.model.forward(&ids, &types, Some(&mask))?; // (n, len, dim)
            // Mean over real tokens only: padding must not move the vector, so a text gets
            // the same embedding whatever else is in its batch.
            let m = mask.to_dtype(DType::F32)?.unsqueeze(2)?; // (n, len, 1)
            let summed = hidden.broadcast_mul(&m)?.sum(1)?; // (n, dim)
            let counts = m.sum(1)?.clamp(1e-9f32, f32::MAX)?; // (n, 1)
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean
                .sqr()?
                .sum_keepdim(1)?
                .sqrt()?
                .clamp(1e-12f32, f32::MAX)?;
            mean.broadcast_div(&norm)?.to_vec2::<f32>()
        };
        run().map_err(|x| e("inference", &x))
    }
}

impl Embedder for LocalEmbedder {
    fn model_id(&self) -> String {
        self.id.clone()
    }

    /// Texts are embedded in batches of similar length (sorted by size, as sentence-transformers
    /// does), so short texts are not padded to the length of a long neighbour; results come
    /// back in input order.
    fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, KbError> {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
        let mut out: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
        for group in order.chunks(self.batch_size.max(1)) {
            let batch: Vec<&str> = group.iter().map(|&i| texts[i].as_str()).collect();
            let vectors = self.embed_batch(&batch)?;
            if vectors.len() != group.len() {
                return Err(KbError::Embedding(format!(
                    "local model {}: {} vectors for {} texts",
                    self.id,
                    vectors.len(),
                    group.len()
                )));
            }
            for (&i, v) in group.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }
}
