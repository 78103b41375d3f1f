//! Diagram import: an image of an architecture diagram → a draft [`SystemModel`] through a
//! vision-capable model. The answer is untrusted like any model output: it is parsed leniently,
//! ids are repaired, the model is validated by the DSL's own checks, and one repair round feeds
//! the errors back. Every element is marked as inferred so a person confirms it.

use std::collections::{BTreeMap, HashMap, HashSet};

use tmc_model::SystemModel;

use crate::client::Client;
use crate::error::LlmError;
use crate::prompt::Prompts;
use crate::provider::{ChatRequest, ImageInput, Message, Role, Usage};

/// Tag added to every component, so the "inferred" flag survives in the model after the YAML
/// comments are gone.
pub const INFERRED_TAG: &str = "inferred";
/// The note attached to every element.
pub const INFERRED_NOTE: &str = "inferred from the image; confirm";

/// Instruction sent with the image (the system prompt carries the format).
const USER_TEXT: &str =
    "Convert the attached diagram into the JSON system model described in your instructions.";

/// A validated draft model and what it took.
#[derive(Debug, Clone)]
pub struct VisionOutcome {
    pub model: SystemModel,
    /// `(element id, note)`, one per component, data asset, flow and boundary.
    pub notes: Vec<(String, String)>,
    pub usage: Usage,
    pub calls: usize,
    /// Ids that were renamed because they were not valid DSL ids.
    pub renamed: Vec<(String, String)>,
}

/// Options of one import.
#[derive(Debug, Clone)]
pub struct VisionOptions {
    pub max_tokens: u32,
    pub temperature: f32,
}

impl Default for VisionOptions {
    fn default() -> Self {
        VisionOptions {
            max_tokens: 4000,
            temperature: 0.0,
        }
    }
}

/// Sends the image and returns a valid model, or a plain error saying why there is none.
pub fn import_image(
    client: &Client,
    prompts: &Prompts,
    image: ImageInput,
    opts: &VisionOptions,
) -> Result<VisionOutcome, LlmError> {
    let technologies: Vec<String> = tmc_model::Technology::ALL
        .iter()
        .filter_map(|t| serde_json::to_value(t).ok())
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let mut vars = BTreeMap::new();
    vars.insert("technologies", technologies.join(", "));
    let system = prompts.render("vision.md", &vars)?;
    let mut req = ChatRequest {
        system,
        messages: vec![Message {
            role: Role::User,
            content: USER_TEXT.into(),
        }],
        max_tokens: opts.max_tokens,
        temperature: opts.temperature,
        // Strict structured output rejects the DSL schema's optional fields on OpenAI; the
        // prompt carries the shape and the answer is validated here instead.
        json_schema: None,
        images: vec![image],
        stream: false,
    };
    let mut usage = Usage::default();
    let first = call(client, &req)?;
    usage.add(first.usage);
    let errors = match interpret(&first.text) {
        Ok(out) => return Ok(finish(out, usage, 1)),
        Err(errors) => errors,
    };
    let mut ev = BTreeMap::new();
    ev.insert("errors", errors.clone());
    req.messages.push(Message {
        role: Role::Assistant,
        content: first.text.chars().take(8_000).collect(),
    });
    req.messages.push(Message {
        role: Role::User,
        content: prompts.render("vision-repair.md", &ev)?,
    });
    let second = call(client, &req)?;
    usage.add(second.usage);
    match interpret(&second.text) {
        Ok(out) => Ok(finish(out, usage, 2)),
        Err(e) => Err(LlmError::Unusable(format!(
            "the diagram answer is not a valid system model: {e}"
        ))),
    }
}

fn call(client: &Client, req: &ChatRequest) -> Result<crate::provider::ChatResponse, LlmError> {
    client.complete(req, 0).map_err(|e| match e {
        // A model without vision typically answers 400 ("image input not supported") or 404.
        LlmError::Http {
            provider,
            status,
            message,
        } if matches!(status, 400 | 404 | 415 | 422) => LlmError::Http {
            provider,
            status,
            message: format!(
                "{message} (the model may not accept images: choose a vision-capable model)"
            ),
        },
        other => other,
    })
}

fn finish(
    (model, renamed): (SystemModel, Vec<(String, String)>),
    usage: Usage,
    calls: usize,
) -> VisionOutcome {
    let mut notes = Vec::new();
    let ids = model
        .components
        .iter()
        .map(|c| &c.id)
        .chain(model.data.iter().map(|d| &d.id))
        .chain(model.flows.iter().map(|f| &f.id))
        .chain(model.trust_boundaries.iter().map(|b| &b.id));
    for id in ids {
        notes.push((id.clone(), INFERRED_NOTE.to_string()));
    }
    VisionOutcome {
        model,
        notes,
        usage,
        calls,
        renamed,
    }
}

/// Reads an answer into a valid model with `inferred` tags, or returns the errors (phrased for
/// the repair prompt).
pub fn interpret(text: &str) -> Result<(SystemModel, Vec<(String, String)>), String> {
    let json = extract_json(text).ok_or_else(|| {
        "the answer holds no JSON object; answer with one JSON object only".to_string()
    })?;
    let mut model: SystemModel =
        serde_json::from_str(json).map_err(|e| format!("the JSON does not fit the shape: {e}"))?;
    if model.version == 0 {
        model.version = 1;
    }
    let renamed = fix_ids(&mut model);
    for c in &mut model.components {
        if !c.tags.iter().any(|t| t == INFERRED_TAG) {
            c.tags.push(INFERRED_TAG.into());
        }
    }
    let bytes = serde_json::to_vec(&model).map_err(|e| e.to_string())?;
    // JSON is YAML, so the DSL's own loader and validator check the draft.
    tmc_dsl::load_checked(&bytes, "diagram").map_err(|e| e.to_string())?;
    Ok((model, renamed))
}

/// The JSON object in an answer: Markdown fences and prose around it are dropped.
pub fn extract_json(text: &str) -> Option<&str> {
    let start = text.find('{')?;
    let end = text.rfind('}')?;
    (end > start).then(|| &text[start..=end])
}

/// Same rule as the DSL validator: a letter first, then letters, digits, `-`, `_`, `.`.
fn valid_id(id: &str) -> bool {
    id.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && id.len() <= 128
}

fn slug(id: &str, fallback: &str) -> String {
    let mut s: String = id
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    let s = s.trim_matches('-').to_string();
    let s = if s.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        s
    } else if s.is_empty() {
        fallback.to_string()
    } else {
        format!("{fallback}-{s}")
    };
    s.chars().take(100).collect()
}

/// Renames invalid or duplicate ids (models write "Web App" or "1") and rewrites every
/// reference, so a near-miss answer does not cost a repair round.
fn fix_ids(m: &mut SystemModel) -> Vec<(String, String)> {
    let mut used: HashSet<String> = HashSet::new();
    let mut renamed = Vec::new();
    let mut fresh =
        |id: &mut String, fallback: &str, used: &mut HashSet<String>| -> Option<String> {
            let mut new = if valid_id(id) {
                id.clone()
            } else {
                slug(id, fallback)
            };
            if used.contains(&new) {
                let base = new.clone();
                let mut n = 2;
                while used.contains(&new) {
                    new = format!("{base}-{n}");
                    n += 1;
                }
            }
            used.insert(new.clone());
            if new == *id {
                return None;
            }
            let old = std::mem::replace(id, new.clone());
            renamed.push((old.clone(), new));
            Some(old)
        };
    let mut comp_map: HashMap<String, String> = HashMap::new();
    for c in &mut m.components {
        if let Some(old) = fresh(&mut c.id, "component", &mut used) {
            comp_map.entry(old).or_insert_with(|| c.id.clone());
        }
    }
    let mut data_map: HashMap<String, String> = HashMap::new();
    for d in &mut m.data {
        if let Some(old) = fresh(&mut d.id, "data", &mut used) {
            data_map.entry(old).or_insert_with(|| d.id.clone());
        }
    }
    for f in &mut m.flows {
        fresh(&mut f.id, "flow", &mut used);
    }
    let mut boundary_map: HashMap<String, String> = HashMap::new();
    for b in &mut m.trust_boundaries {
        if let Some(old) = fresh(&mut b.id, "boundary", &mut used) {
            boundary_map.entry(old).or_insert_with(|| b.id.clone());
        }
    }
    let map = |v: &mut String, map: &HashMap<String, String>| {
        if let Some(n) = map.get(v.as_str()) {
            *v = n.clone();
        }
    };
    for f in &mut m.flows {
        map(&mut f.from, &comp_map);
        map(&mut f.to, &comp_map);
        f.data.iter_mut().for_each(|d| map(d, &data_map));
        f.data_received.iter_mut().for_each(|d| map(d, &data_map));
    }
    for b in &mut m.trust_boundaries {
        b.members.iter_mut().for_each(|x| map(x, &comp_map));
        b.boundaries.iter_mut().for_each(|x| map(x, &boundary_map));
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_and_bad_ids_are_fixed() {
        let text = "Here it is:\n```json\n{\"version\":1,\"product\":{\"name\":\"Shop\"},\"components\":[{\"id\":\"Web App\",\"name\":\"Web App\",\"kind\":\"process\",\"technology\":\"web-app\"},{\"id\":\"1\",\"name\":\"DB\",\"kind\":\"data-store\",\"technology\":\"database\"}],\"flows\":[{\"id\":\"f1\",\"from\":\"Web App\",\"to\":\"1\",\"protocol\":\"sql\"}]}\n```";
        let (m, renamed) = interpret(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(m.components[0].id, "web-app");
        assert_eq!(m.components[1].id, "component-1");
        assert_eq!(
            (m.flows[0].from.as_str(), m.flows[0].to.as_str()),
            ("web-app", "component-1")
        );
        assert_eq!(renamed.len(), 2);
        assert!(
            m.components
                .iter()
                .all(|c| c.tags.contains(&INFERRED_TAG.to_string()))
        );
        assert!(interpret("no json here").is_err());
        assert!(interpret("{\"version\": 1, \"product\": {\"name\": \"x\"}, \"flows\": [{\"id\": \"f\", \"from\": \"a\", \"to\": \"b\"}]}").is_err());
    }
}
