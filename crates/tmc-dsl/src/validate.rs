//! Structural validation (errors) and design lints (warnings).
//!
//! Errors make the model unusable for drafting: a dangling reference would make rules reason
//! about a component that does not exist. Warnings are design smells a reviewer would raise in
//! the first minute; they never block a draft.

use std::collections::{HashMap, HashSet};

use tmc_model::topology::Topology;
use tmc_model::{Classification, ElementKind, Encryption, Technology};

use crate::diagnostic::{Diagnostic, Level};
use crate::load::{ElementPos, ParsedModel, Pos};
use crate::suggest::did_you_mean;

/// Every error and warning for a parsed model, errors first, each group in file order.
pub fn validate(parsed: &ParsedModel) -> Vec<Diagnostic> {
    let mut v = Validator {
        parsed,
        out: Vec::new(),
    };
    v.ids();
    v.references();
    v.boundaries();
    v.lints();
    let mut out = v.out;
    out.sort_by(|a, b| {
        b.level
            .cmp(&a.level)
            .then(a.line.cmp(&b.line))
            .then(a.column.cmp(&b.column))
    });
    out
}

struct Validator<'a> {
    parsed: &'a ParsedModel,
    out: Vec<Diagnostic>,
}

#[derive(Clone, Copy)]
enum Section {
    Components,
    Data,
    Flows,
    Boundaries,
}

impl<'a> Validator<'a> {
    fn pos(&self, section: Section, index: usize) -> Option<&'a ElementPos> {
        let idx = &self.parsed.index;
        match section {
            Section::Components => idx.components.get(index),
            Section::Data => idx.data.get(index),
            Section::Flows => idx.flows.get(index),
            Section::Boundaries => idx.trust_boundaries.get(index),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        level: Level,
        code: &'static str,
        at: Pos,
        element: &str,
        message: String,
        help: Option<String>,
    ) {
        self.out.push(Diagnostic {
            level,
            code,
            message,
            file: self.parsed.file.clone(),
            line: at.line,
            column: at.column,
            element: Some(element.to_string()),
            help,
        });
    }

    fn id_pos(&self, section: Section, index: usize) -> Pos {
        self.pos(section, index).map(|p| p.id).unwrap_or_default()
    }

    fn field_pos(&self, section: Section, index: usize, field: &str) -> Pos {
        self.pos(section, index)
            .map(|p| p.field(field))
            .unwrap_or_default()
    }

    fn ids(&mut self) {
        let m = &self.parsed.model;
        let mut seen: HashMap<&str, &'static str> = HashMap::new();
        let all = m
            .components
            .iter()
            .enumerate()
            .map(|(i, c)| (Section::Components, i, c.id.as_str(), "component"))
            .chain(
                m.data
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (Section::Data, i, d.id.as_str(), "data asset")),
            )
            .chain(
                m.flows
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (Section::Flows, i, f.id.as_str(), "flow")),
            )
            .chain(
                m.trust_boundaries
                    .iter()
                    .enumerate()
                    .map(|(i, b)| (Section::Boundaries, i, b.id.as_str(), "trust boundary")),
            )
            .collect::<Vec<_>>();
        for (section, i, id, what) in all {
            let at = self.id_pos(section, i);
            if !valid_id(id) {
                self.push(
                    Level::Error,
                    "invalid-id",
                    at,
                    id,
                    format!("{what} id `{id}` is not a valid id"),
                    Some(
                        "ids use letters, digits, `-`, `_` and `.`, and start with a letter".into(),
                    ),
                );
            }
            if let Some(prev) = seen.insert(id, what) {
                self.push(
                    Level::Error,
                    "duplicate-id",
                    at,
                    id,
                    format!("id `{id}` of this {what} is already used by a {prev}"),
                    Some("ids are unique across components, data, flows and boundaries".into()),
                );
            }
        }
    }

    fn references(&mut self) {
        let m = &self.parsed.model;
        let components: HashSet<&str> = m.components.iter().map(|c| c.id.as_str()).collect();
        let data: HashSet<&str> = m.data.iter().map(|d| d.id.as_str()).collect();
        let mut problems = Vec::new();
        let mut check = |section: Section,
                         index: usize,
                         owner: &str,
                         field: String,
                         target: &str,
                         set: &HashSet<&str>,
                         what: &str| {
            if !set.contains(target) {
                problems.push((
                    section,
                    index,
                    owner.to_string(),
                    field,
                    target.to_string(),
                    {
                        let mut names: Vec<&str> = set.iter().copied().collect();
                        names.sort_unstable();
                        did_you_mean(target, names).map(str::to_string)
                    },
                    what.to_string(),
                ));
            }
        };
        for (i, f) in m.flows.iter().enumerate() {
            check(
                Section::Flows,
                i,
                &f.id,
                "from".into(),
                &f.from,
                &components,
                "component",
            );
            check(
                Section::Flows,
                i,
                &f.id,
                "to".into(),
                &f.to,
                &components,
                "component",
            );
            for (j, d) in f.data.iter().enumerate() {
                check(
                    Section::Flows,
                    i,
                    &f.id,
                    format!("data[{j}]"),
                    d,
                    &data,
                    "data asset",
                );
            }
            for (j, d) in f.data_received.iter().enumerate() {
                check(
                    Section::Flows,
                    i,
                    &f.id,
                    format!("data_received[{j}]"),
                    d,
                    &data,
                    "data asset",
                );
            }
        }
        for (i, d) in m.data.iter().enumerate() {
            for (j, c) in d.stored_in.iter().enumerate() {
                check(
                    Section::Data,
                    i,
                    &d.id,
                    format!("stored_in[{j}]"),
                    c,
                    &components,
                    "component",
                );
            }
            for (j, c) in d.processed_by.iter().enumerate() {
                check(
                    Section::Data,
                    i,
                    &d.id,
                    format!("processed_by[{j}]"),
                    c,
                    &components,
                    "component",
                );
            }
        }
        let boundaries: HashSet<&str> = m.trust_boundaries.iter().map(|b| b.id.as_str()).collect();
        for (i, b) in m.trust_boundaries.iter().enumerate() {
            for (j, c) in b.members.iter().enumerate() {
                check(
                    Section::Boundaries,
                    i,
                    &b.id,
                    format!("members[{j}]"),
                    c,
                    &components,
                    "component",
                );
            }
            for (j, c) in b.boundaries.iter().enumerate() {
                check(
                    Section::Boundaries,
                    i,
                    &b.id,
                    format!("boundaries[{j}]"),
                    c,
                    &boundaries,
                    "trust boundary",
                );
            }
        }
        for (section, index, owner, field, target, suggestion, what) in problems {
            let at = self.field_pos(section, index, &field);
            let code = if field == "from" || field == "to" {
                "flow-to-nowhere"
            } else {
                "dangling-reference"
            };
            self.push(
                Level::Error,
                code,
                at,
                &owner,
                format!("`{field}` refers to {what} `{target}`, which is not defined"),
                suggestion.map(|s| format!("did you mean `{s}`?")),
            );
        }
    }

    fn boundaries(&mut self) {
        let m = &self.parsed.model;
        // A component directly in two boundaries makes "which side is it on" ambiguous.
        let mut member_of: HashMap<&str, &str> = HashMap::new();
        let mut parent_of: HashMap<&str, &str> = HashMap::new();
        let mut problems = Vec::new();
        for (i, b) in m.trust_boundaries.iter().enumerate() {
            for (j, c) in b.members.iter().enumerate() {
                if let Some(prev) = member_of.insert(c, &b.id)
                    && prev != b.id
                {
                    problems.push((i, format!("members[{j}]"), b.id.clone(), "member-of-two-boundaries",
                        format!("component `{c}` is a direct member of both `{prev}` and `{}`", b.id),
                        Some("nest one boundary inside the other and list the component only in the inner one".to_string())));
                }
            }
            for (j, c) in b.boundaries.iter().enumerate() {
                if let Some(prev) = parent_of.insert(c, &b.id)
                    && prev != b.id
                {
                    problems.push((
                        i,
                        format!("boundaries[{j}]"),
                        b.id.clone(),
                        "nested-in-two-boundaries",
                        format!("boundary `{c}` is nested in both `{prev}` and `{}`", b.id),
                        None,
                    ));
                }
            }
        }
        // Cycles: follow parents from each boundary.
        for (i, b) in m.trust_boundaries.iter().enumerate() {
            let mut cur = b.id.as_str();
            let mut chain = vec![cur];
            while let Some(p) = parent_of.get(cur) {
                if *p == b.id {
                    chain.push(p);
                    problems.push((
                        i,
                        "id".to_string(),
                        b.id.clone(),
                        "boundary-cycle",
                        format!(
                            "trust boundaries are nested in a cycle: {}",
                            chain.join(" ⊂ ")
                        ),
                        Some(
                            "a boundary cannot contain itself, directly or indirectly".to_string(),
                        ),
                    ));
                    break;
                }
                if chain.contains(p) {
                    break;
                }
                chain.push(p);
                cur = p;
            }
        }
        for (i, field, id, code, msg, help) in problems {
            let at = if field == "id" {
                self.id_pos(Section::Boundaries, i)
            } else {
                self.field_pos(Section::Boundaries, i, &field)
            };
            self.push(Level::Error, code, at, &id, msg, help);
        }
    }

    fn lints(&mut self) {
        let m = &self.parsed.model;
        let topo = Topology::new(m);
        let by_id: HashMap<&str, &tmc_model::Component> =
            m.components.iter().map(|c| (c.id.as_str(), c)).collect();
        let data_by_id: HashMap<&str, &tmc_model::DataAsset> =
            m.data.iter().map(|d| (d.id.as_str(), d)).collect();
        let mut warn = Vec::new();

        let mut used: HashSet<&str> = HashSet::new();
        for f in &m.flows {
            used.extend(f.data.iter().map(String::as_str));
            used.extend(f.data_received.iter().map(String::as_str));
        }
        for (i, d) in m.data.iter().enumerate() {
            if !used.contains(d.id.as_str()) && d.stored_in.is_empty() && d.processed_by.is_empty()
            {
                warn.push((
                    Section::Data,
                    i,
                    "id".to_string(),
                    d.id.clone(),
                    "unused-data",
                    format!("data asset `{}` is never sent, stored or processed", d.id),
                    Some(
                        "reference it from a flow's `data`, or from `stored_in` / `processed_by`"
                            .into(),
                    ),
                ));
            }
            for (j, c) in d.stored_in.iter().enumerate() {
                if let Some(comp) = by_id.get(c.as_str())
                    && comp.kind != ElementKind::DataStore
                {
                    warn.push((
                        Section::Data,
                        i,
                        format!("stored_in[{j}]"),
                        d.id.clone(),
                        "stored-in-non-store",
                        format!(
                            "`{}` is stored in `{c}`, which is a {}, not a data store",
                            d.id,
                            comp.kind.as_str()
                        ),
                        None,
                    ));
                }
            }
        }

        let mut connected: HashSet<&str> = HashSet::new();
        for f in &m.flows {
            connected.insert(&f.from);
            connected.insert(&f.to);
        }
        for (i, c) in m.components.iter().enumerate() {
            if !connected.contains(c.id.as_str()) {
                warn.push((
                    Section::Components,
                    i,
                    "id".into(),
                    c.id.clone(),
                    "isolated-component",
                    format!("component `{}` has no flows", c.id),
                    Some("threats on flows need flows; add how data reaches it".into()),
                ));
            }
            let public = c.internet_facing == Some(true);
            // `scheme: none` is a deliberate statement (a public CDN); only silence is a smell.
            let no_auth = c.authentication.is_none();
            if public && c.kind == ElementKind::Process && no_auth {
                warn.push((Section::Components, i, "id".into(), c.id.clone(), "public-without-authentication",
                    format!("internet-facing process `{}` declares no authentication", c.id),
                    Some("declare `authentication: {scheme: ...}`, or `scheme: none` if it is deliberately public".into())));
            }
            let is_model = matches!(c.technology, Technology::Llm | Technology::Agent);
            if c.model.is_some() && !is_model {
                warn.push((
                    Section::Components,
                    i,
                    "id".into(),
                    c.id.clone(),
                    "model-attributes-on-non-model",
                    format!(
                        "`{}` has `model` attributes but its technology is `{}`",
                        c.id,
                        c.technology.as_str()
                    ),
                    None,
                ));
            }
            let expected = c.technology.default_kind();
            // Anything may be modelled as an external entity when the team does not run it.
            if c.kind != expected
                && c.kind != ElementKind::ExternalEntity
                && !matches!(
                    c.technology,
                    Technology::Other | Technology::ExternalService
                )
            {
                warn.push((
                    Section::Components,
                    i,
                    "id".into(),
                    c.id.clone(),
                    "unusual-kind",
                    format!(
                        "`{}` is a {} but {} is usually a {}",
                        c.id,
                        c.kind.as_str(),
                        c.technology.as_str(),
                        expected.as_str()
                    ),
                    None,
                ));
            }
        }

        for (i, f) in m.flows.iter().enumerate() {
            if f.from == f.to {
                warn.push((
                    Section::Flows,
                    i,
                    "to".into(),
                    f.id.clone(),
                    "self-flow",
                    format!("flow `{}` goes from `{}` to itself", f.id, f.from),
                    None,
                ));
            }
            let zone = |id: &str| by_id.get(id).map(|c| c.effective_trust_zone());
            let crosses = topo.crosses_zones(&f.from, &f.to, zone(&f.from), zone(&f.to));
            let max_class = f
                .data
                .iter()
                .chain(&f.data_received)
                .filter_map(|d| data_by_id.get(d.as_str()))
                .map(|d| d.classification)
                .max();
            let enc = f.encryption.unwrap_or(Encryption::None);
            if crosses && max_class >= Some(Classification::Confidential) && !enc.is_strong() {
                warn.push((
                    Section::Flows,
                    i,
                    "id".into(),
                    f.id.clone(),
                    "sensitive-data-unencrypted-across-boundary",
                    format!(
                        "flow `{}` carries {} data across a trust boundary without {}",
                        f.id,
                        max_class.map(|c| c.as_str()).unwrap_or("sensitive"),
                        if f.encryption.is_none() {
                            "declared encryption"
                        } else {
                            "strong encryption"
                        }
                    ),
                    Some("declare `encryption: tls-1.2` or better, or explain in `notes`".into()),
                ));
            }
            if matches!(f.encryption, Some(Encryption::Tls10 | Encryption::Tls11)) {
                warn.push((
                    Section::Flows,
                    i,
                    "id".into(),
                    f.id.clone(),
                    "deprecated-tls",
                    format!(
                        "flow `{}` uses {}, which is deprecated (RFC 8996)",
                        f.id,
                        enc.as_str()
                    ),
                    None,
                ));
            }
        }

        for (section, i, field, id, code, msg, help) in warn {
            let at = if field == "id" {
                self.id_pos(section, i)
            } else {
                self.field_pos(section, i, &field)
            };
            self.push(Level::Warning, code, at, &id, msg, help);
        }
    }
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && id.len() <= 128
}
