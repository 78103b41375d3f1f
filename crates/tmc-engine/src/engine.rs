//! Running a rule set over a model to produce a draft.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};
use tmc_model::{
    CoverageRow, DRAFT_VERSION, Draft, ElementKind, Generator, Mitigation, MitigationStatus,
    Provenance, Severity, Stride, SuppressedThreat, SystemModel, TargetKind, TargetRef, Threat,
    ThreatStatus,
};

use crate::attrs::{self, Subject, TargetType};
use crate::facts::Facts;
use crate::rules::{
    BuiltinFile, ControlEffect, GroupBy, Rule, RuleError, compile_placed, load_rule_file,
    parse_rule_file,
};
use crate::severity;

include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// A loaded, compiled set of rules.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Rule>,
    /// Position of each rule id in `rules` (replacing by id was a scan per added rule).
    positions: HashMap<String, usize>,
    hasher_input: Vec<(String, String)>,
    /// [`RuleSet::digest`], computed on first use (every draft reports it; hashing the
    /// built-in files' 260 kB again for each draft of a server showed in profiles).
    digest: std::sync::OnceLock<String>,
}

impl RuleSet {
    /// The rules shipped in `rules/`, as `build.rs` parsed them (no YAML at start-up). Only
    /// conditions and templates are compiled here, which takes well under a millisecond; a
    /// file the build could not parse is parsed from its embedded YAML so that its error is
    /// reported with file:line:column exactly as for any other rule file.
    pub fn builtin() -> Result<RuleSet, Vec<RuleError>> {
        let parsed: Vec<BuiltinFile> = serde_json::from_str(BUILTIN_RULES_JSON).map_err(|e| {
            vec![RuleError {
                file: "rules (embedded by build.rs)".into(),
                line: e.line() as u64,
                column: e.column() as u64,
                rule: None,
                message: format!("embedded rule data does not load: {e}"),
            }]
        })?;
        let mut parsed = parsed.into_iter();
        let mut set = RuleSet::default();
        for (name, text) in BUILTIN_RULE_FILES {
            let file = format!("rules/{name}");
            let placed = match parsed.next() {
                Some(BuiltinFile {
                    name: n,
                    rules: Some(rules),
                }) if n == *name => rules,
                _ => parse_rule_file(text, &file)?,
            };
            set.add_rules(compile_placed(placed, &file)?, text, &file)?;
        }
        Ok(set)
    }

    /// Adds (or, for an existing id, replaces) the rules of one file.
    pub fn add_file(&mut self, text: &str, file: &str) -> Result<(), Vec<RuleError>> {
        self.add_rules(load_rule_file(text, file)?, text, file)
    }

    fn add_rules(
        &mut self,
        rules: Vec<Rule>,
        text: &str,
        file: &str,
    ) -> Result<(), Vec<RuleError>> {
        let mut seen: HashMap<&str, &str> = HashMap::new();
        let mut dup = Vec::new();
        for r in &rules {
            if let Some(prev) = seen.insert(&r.spec.id, &r.origin) {
                dup.push(RuleError {
                    file: file.to_string(),
                    line: r
                        .origin
                        .rsplit(':')
                        .next()
                        .and_then(|l| l.parse().ok())
                        .unwrap_or(0),
                    column: 1,
                    rule: Some(r.spec.id.clone()),
                    message: format!("duplicate rule id (first defined at {prev})"),
                });
            }
        }
        if !dup.is_empty() {
            return Err(dup);
        }
        for r in rules {
            if let Some(&i) = self.positions.get(&r.spec.id) {
                self.rules[i] = r;
            } else {
                self.positions.insert(r.spec.id.clone(), self.rules.len());
                self.rules.push(r);
            }
        }
        self.hasher_input.push((file.to_string(), text.to_string()));
        self.digest = std::sync::OnceLock::new();
        Ok(())
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.positions.get(id).and_then(|&i| self.rules.get(i))
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// SHA-256 over the rule files' names and contents, hex, first 16 digits.
    pub fn digest(&self) -> String {
        self.digest
            .get_or_init(|| {
                let mut h = Sha256::new();
                for (name, text) in &self.hasher_input {
                    h.update(name.as_bytes());
                    h.update([0]);
                    h.update(text.as_bytes());
                    h.update([0]);
                }
                h.finalize()
                    .iter()
                    .take(8)
                    .map(|b| format!("{b:02x}"))
                    .collect()
            })
            .clone()
    }
}

/// Options for one draft.
#[derive(Debug, Clone, Default)]
pub struct DraftOptions {
    pub min_severity: Option<Severity>,
    pub source_file: Option<String>,
}

/// One rule firing on one subject, before grouping.
struct Hit {
    threat: Threat,
    group_key: Option<String>,
}

/// Drafts a threat model. Pure: no I/O, deterministic for a given model and rule set.
pub fn draft(model: &SystemModel, rules: &RuleSet, opts: &DraftOptions) -> Draft {
    let facts = Facts::new(model);
    let mut hits: Vec<Hit> = Vec::new();
    let mut suppressed = Vec::new();

    // Subjects and their target references are the same for every rule of a target type:
    // build them once, not once per rule (a flow's display name is formatted).
    let component_subjects: Vec<Subject> = (0..facts.components.len())
        .filter(|i| facts.components[*i].component.in_scope)
        .map(Subject::Component)
        .collect();
    let flow_subjects: Vec<Subject> = (0..facts.flows.len())
        .filter(|i| {
            let f = &facts.flows[*i];
            facts.components[f.source].component.in_scope
                || facts.components[f.destination].component.in_scope
        })
        .map(Subject::Flow)
        .collect();
    let data_subjects: Vec<Subject> = (0..facts.data.len()).map(Subject::Data).collect();
    let refs = TargetRefs::new(&facts);

    for rule in &rules.rules {
        let subjects: &[Subject] = match rule.spec.target {
            TargetType::Component => &component_subjects,
            TargetType::Flow => &flow_subjects,
            TargetType::Data => &data_subjects,
        };
        for &subject in subjects {
            if !attrs::eval(&facts, subject, &rule.when).truthy() {
                continue;
            }
            let target = refs.get(subject).clone();
            let id = threat_id(rule, &facts, subject, &target);
            let mut downgrade = None;
            let mut suppress = None;
            for (cond, spec) in &rule.controls {
                if attrs::eval(&facts, subject, cond).truthy() {
                    match spec.effect {
                        ControlEffect::Suppress => {
                            suppress = Some(spec.note.clone());
                            break;
                        }
                        ControlEffect::Downgrade => {
                            if downgrade.is_none() {
                                downgrade = Some(spec.note.clone());
                            }
                        }
                    }
                }
            }
            let title = rule.title.render(&facts, subject);
            if let Some(reason) = suppress {
                // Per-target id even for grouped rules: other flows of the group may still
                // carry the live threat under the group id.
                suppressed.push(SuppressedThreat {
                    id: format!("{}@{}", rule.spec.id, target.id),
                    title,
                    rule_id: rule.spec.id.clone(),
                    targets: vec![target],
                    reason,
                });
                continue;
            }
            let severity = severity::assess(
                &facts,
                subject,
                rule.spec.likelihood,
                rule.spec.impact,
                downgrade,
            );
            let mitigations = rule
                .mitigations
                .iter()
                .map(|(cond, m)| Mitigation {
                    id: m.id.clone(),
                    text: m.text.clone(),
                    asvs: m.asvs.clone(),
                    status: match cond {
                        Some(c) if attrs::eval(&facts, subject, c).truthy() => {
                            MitigationStatus::Implemented
                        }
                        _ => MitigationStatus::Proposed,
                    },
                    owner: None,
                    ticket: None,
                    due: None,
                })
                .collect();
            let group_key = match (rule.spec.group_by, subject) {
                (Some(GroupBy::Destination), Subject::Flow(i)) => Some(
                    facts.model.components[facts.flows[i].destination]
                        .id
                        .clone(),
                ),
                (Some(GroupBy::Source), Subject::Flow(i)) => {
                    Some(facts.model.components[facts.flows[i].source].id.clone())
                }
                _ => None,
            };
            hits.push(Hit {
                threat: Threat {
                    id,
                    title,
                    description: rule.description.render(&facts, subject),
                    stride: rule.stride.clone(),
                    targets: vec![target],
                    references: rule.references.clone(),
                    severity,
                    mitigations,
                    provenance: Provenance::Rule {
                        rule_id: rule.spec.id.clone(),
                        also_raised_by: Vec::new(),
                        triggered_by: rule
                            .when_attrs
                            .iter()
                            .map(|(name, attr)| {
                                (name.clone(), attrs::value(&facts, subject, *attr).render())
                            })
                            .collect(),
                    },
                    status: ThreatStatus::Draft,
                    review: None,
                },
                group_key,
            });
        }
    }

    let mut threats = merge_overlaps(group(hits));
    if let Some(min) = opts.min_severity {
        threats.retain(|t| t.severity.level >= min);
    }
    // Most severe first; ties by id so output is stable. Threats are large, so sort indices
    // and move each threat once instead of swapping structs through the sort.
    let mut order: Vec<usize> = (0..threats.len()).collect();
    order.sort_by(|&a, &b| {
        threats[b]
            .severity
            .score
            .cmp(&threats[a].severity.score)
            .then_with(|| threats[a].id.cmp(&threats[b].id))
    });
    let mut slots: Vec<Option<Threat>> = threats.into_iter().map(Some).collect();
    let threats: Vec<Threat> = order.into_iter().filter_map(|i| slots[i].take()).collect();
    suppressed.sort_by(|a, b| a.id.cmp(&b.id));
    let coverage = coverage(&facts, &refs, &threats);
    Draft {
        draft_version: DRAFT_VERSION,
        product: model.product.clone(),
        source_file: opts.source_file.clone(),
        generator: Generator {
            tool: "tmc".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            mode: "rules".into(),
            rules_loaded: rules.len(),
            ruleset_digest: rules.digest(),
        },
        threats,
        suppressed,
        coverage,
        review: None,
    }
}

fn threat_id(rule: &Rule, facts: &Facts, subject: Subject, target: &TargetRef) -> String {
    match (rule.spec.group_by, subject) {
        (Some(GroupBy::Destination), Subject::Flow(i)) => format!(
            "{}@to:{}",
            rule.spec.id, facts.model.components[facts.flows[i].destination].id
        ),
        (Some(GroupBy::Source), Subject::Flow(i)) => format!(
            "{}@from:{}",
            rule.spec.id, facts.model.components[facts.flows[i].source].id
        ),
        _ => format!("{}@{}", rule.spec.id, target.id),
    }
}

fn target_ref(facts: &Facts, subject: Subject) -> TargetRef {
    match subject {
        Subject::Component(i) => {
            let c = facts.components[i].component;
            TargetRef {
                kind: TargetKind::Component,
                id: c.id.clone(),
                name: c.name.clone(),
            }
        }
        Subject::Flow(i) => {
            let f = facts.flows[i].flow;
            let name = f.name.clone().unwrap_or_else(|| {
                format!(
                    "{} → {}",
                    facts.components[facts.flows[i].source].component.name,
                    facts.components[facts.flows[i].destination].component.name
                )
            });
            TargetRef {
                kind: TargetKind::Flow,
                id: f.id.clone(),
                name,
            }
        }
        Subject::Data(i) => {
            let d = facts.data[i].asset;
            TargetRef {
                kind: TargetKind::Data,
                id: d.id.clone(),
                name: d.name.clone(),
            }
        }
    }
}

/// Every subject's [`TargetRef`], built once per draft.
struct TargetRefs {
    components: Vec<TargetRef>,
    flows: Vec<TargetRef>,
    data: Vec<TargetRef>,
}

impl TargetRefs {
    fn new(facts: &Facts) -> TargetRefs {
        TargetRefs {
            components: (0..facts.components.len())
                .map(|i| target_ref(facts, Subject::Component(i)))
                .collect(),
            flows: (0..facts.flows.len())
                .map(|i| target_ref(facts, Subject::Flow(i)))
                .collect(),
            data: (0..facts.data.len())
                .map(|i| target_ref(facts, Subject::Data(i)))
                .collect(),
        }
    }

    fn get(&self, subject: Subject) -> &TargetRef {
        match subject {
            Subject::Component(i) => &self.components[i],
            Subject::Flow(i) => &self.flows[i],
            Subject::Data(i) => &self.data[i],
        }
    }
}

/// Merges hits of grouped rules that share a key: one threat naming every flow.
fn group(hits: Vec<Hit>) -> Vec<Threat> {
    let mut out: Vec<Threat> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut extra: HashMap<usize, Vec<String>> = HashMap::new();
    for hit in hits {
        match hit.group_key {
            None => out.push(hit.threat),
            Some(_) => {
                if let Some(&i) = index.get(&hit.threat.id) {
                    let t = &mut out[i];
                    extra
                        .entry(i)
                        .or_default()
                        .push(hit.threat.targets[0].name.clone());
                    t.targets.extend(hit.threat.targets);
                    if hit.threat.severity.score > t.severity.score {
                        t.severity = hit.threat.severity;
                    }
                } else {
                    index.insert(hit.threat.id.clone(), out.len());
                    out.push(hit.threat);
                }
            }
        }
    }
    for (i, names) in extra {
        let t = &mut out[i];
        t.description = format!(
            "{} The same applies to {} more flow(s): {}.",
            t.description,
            names.len(),
            attrs::join_names(&names)
        );
    }
    out
}

/// Two rules raising the same threat on the same element (same targets, a shared STRIDE
/// category, and a shared CWE or titles that say the same once the element's name is taken
/// out) would show a reviewer the same problem twice. The more severe one is
/// kept; the other's mitigations are added and its rule id recorded in `also_raised_by`.
fn merge_overlaps(threats: Vec<Threat>) -> Vec<Threat> {
    use std::hash::{Hash, Hasher};
    let key_of = |t: &Threat| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for x in &t.targets {
            x.kind.hash(&mut h);
            x.id.hash(&mut h);
        }
        h.finish()
    };
    let mut out: Vec<Threat> = Vec::with_capacity(threats.len());
    // The title words of `out[i]` (see [`title_words`]), computed on first comparison: an
    // element with many threats compares each new one with all before it, and recomputing
    // both titles' words for every pair dominated large drafts.
    let mut words: Vec<Option<TitleWords>> = Vec::with_capacity(threats.len());
    let mut by_targets: HashMap<u64, Vec<usize>> = HashMap::with_capacity(threats.len());
    for t in threats {
        let candidates = by_targets.entry(key_of(&t)).or_default();
        let mut t_words: Option<TitleWords> = None;
        let dup = candidates.iter().copied().find(|&i| {
            let o = &out[i];
            o.targets.len() == t.targets.len()
                && o.targets
                    .iter()
                    .zip(&t.targets)
                    .all(|(a, b)| a.kind == b.kind && a.id == b.id)
                && o.stride.iter().any(|s| t.stride.contains(s))
                && (o
                    .references
                    .cwe
                    .iter()
                    .any(|c| t.references.cwe.contains(c))
                    || similar_titles(
                        words[i].get_or_insert_with(|| title_words(o)),
                        t_words.get_or_insert_with(|| title_words(&t)),
                    ))
        });
        match dup {
            Some(i) => {
                let (keep, gone) = if t.severity.score > out[i].severity.score {
                    // The kept threat's title is `t`'s now; the targets are the same.
                    words[i] = t_words;
                    (t, std::mem::replace(&mut out[i], placeholder()))
                } else {
                    (std::mem::replace(&mut out[i], placeholder()), t)
                };
                out[i] = absorb(keep, gone);
            }
            None => {
                candidates.push(out.len());
                out.push(t);
                words.push(t_words);
            }
        }
    }
    out
}

type TitleWords = std::collections::BTreeSet<String>;

/// The content words of a threat's title once the targets' names are taken out: the sets
/// [`tmc_model::identity::word_jaccard`] compares, computed once per threat.
fn title_words(t: &Threat) -> TitleWords {
    use tmc_model::identity::{normalised_title, words};
    words(&normalised_title(&t.title, &t.targets))
}

/// Titles naming the same threat: half their content words shared
/// ([`tmc_model::identity::word_jaccard`] at `SIMILAR_TITLE_JACCARD`, here over precomputed
/// word sets) once the targets' names are taken out. Word overlap rather than edit distance:
/// two rules' titles about one element share its name and phrasing ("… taken over through …")
/// without being one threat.
fn similar_titles(x: &TitleWords, y: &TitleWords) -> bool {
    use tmc_model::identity::SIMILAR_TITLE_JACCARD;
    if x.is_empty() || y.is_empty() {
        return false;
    }
    let shared = x.intersection(y).count();
    let union = x.len() + y.len() - shared;
    shared as f64 / union as f64 >= SIMILAR_TITLE_JACCARD
}

fn placeholder() -> Threat {
    Threat {
        id: String::new(),
        title: String::new(),
        description: String::new(),
        stride: Vec::new(),
        targets: Vec::new(),
        references: Default::default(),
        severity: tmc_model::SeverityAssessment {
            level: Severity::Info,
            likelihood: 1,
            impact: 1,
            score: 1,
            factors: Vec::new(),
            downgraded_by: None,
        },
        mitigations: Vec::new(),
        provenance: Provenance::KnowledgeBase {
            source_ids: Vec::new(),
        },
        status: ThreatStatus::Draft,
        review: None,
    }
}

fn absorb(mut keep: Threat, gone: Threat) -> Threat {
    for m in gone.mitigations {
        if !keep.mitigations.iter().any(|k| k.id == m.id) {
            keep.mitigations.push(m);
        }
    }
    for s in gone.stride {
        if !keep.stride.contains(&s) {
            keep.stride.push(s);
        }
    }
    for c in gone.references.cwe {
        if !keep.references.cwe.contains(&c) {
            keep.references.cwe.push(c);
        }
    }
    for c in gone.references.capec {
        if !keep.references.capec.contains(&c) {
            keep.references.capec.push(c);
        }
    }
    let gone_rule = match gone.provenance {
        Provenance::Rule {
            rule_id,
            also_raised_by,
            ..
        } => std::iter::once(rule_id).chain(also_raised_by).collect(),
        _ => Vec::new(),
    };
    if let Provenance::Rule { also_raised_by, .. } = &mut keep.provenance {
        also_raised_by.extend(gone_rule);
    }
    keep
}

/// STRIDE letters that apply to an element kind: the one table in `tmc_model`.
pub fn applicable(kind: Option<ElementKind>) -> &'static [Stride] {
    Stride::per_element(kind)
}

fn coverage<'a>(facts: &Facts, refs: &'a TargetRefs, threats: &'a [Threat]) -> Vec<CoverageRow> {
    // Counted per letter in an array keyed by borrowed ids; the map of letter names is built
    // once per row (it was a `String` allocation per threat, target and letter).
    let slot = |s: Stride| Stride::ALL.iter().position(|x| *x == s).unwrap_or(0);
    let mut counts: HashMap<(TargetKind, &'a str), [u32; 6]> = HashMap::new();
    for t in threats {
        for target in &t.targets {
            let row = counts.entry((target.kind, target.id.as_str())).or_default();
            for s in &t.stride {
                row[slot(*s)] += 1;
            }
        }
    }
    let mut rows = Vec::new();
    let mut push = |target: &'a TargetRef, kind: Option<ElementKind>, technology: &str| {
        let counted = counts
            .remove(&(target.kind, target.id.as_str()))
            .unwrap_or_default();
        let mut c: BTreeMap<String, u32> = Stride::ALL
            .iter()
            .zip(counted)
            .filter(|(_, n)| *n > 0)
            .map(|(s, n)| (s.letter().to_string(), n))
            .collect();
        for s in applicable(kind) {
            c.entry(s.letter().to_string()).or_default();
        }
        rows.push(CoverageRow {
            target: target.clone(),
            technology: Some(technology.to_string()),
            counts: c,
        });
    };
    for (i, cf) in facts.components.iter().enumerate() {
        if cf.component.in_scope {
            push(
                refs.get(Subject::Component(i)),
                Some(cf.component.kind),
                cf.component.technology.as_str(),
            );
        }
    }
    for (i, ff) in facts.flows.iter().enumerate() {
        let to = facts.components[ff.destination].component;
        push(refs.get(Subject::Flow(i)), None, to.technology.as_str());
    }
    rows
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The rules `build.rs` parsed at build time are exactly the rules the YAML of the same
    /// files gives at run time: same specs, positions, compiled conditions and digest.
    #[test]
    fn build_time_rules_equal_yaml_rules() {
        let built = RuleSet::builtin().unwrap();
        let mut yaml = RuleSet::default();
        for (name, text) in BUILTIN_RULE_FILES {
            yaml.add_file(text, &format!("rules/{name}")).unwrap();
        }
        assert_eq!(built.len(), yaml.len());
        assert_eq!(format!("{:?}", built.rules), format!("{:?}", yaml.rules));
        assert_eq!(built.digest(), yaml.digest());
        let parsed: Vec<BuiltinFile> = serde_json::from_str(BUILTIN_RULES_JSON).unwrap();
        assert_eq!(parsed.len(), BUILTIN_RULE_FILES.len());
        assert!(
            parsed.iter().all(|f| f.rules.is_some()),
            "a file fell back to YAML"
        );
    }

    /// Replacing a rule by id keeps its position and `get` finds the replacement.
    #[test]
    fn same_id_replaces_in_place() {
        let mut set = RuleSet::builtin().unwrap();
        let first = set.rules()[0].spec.clone();
        let digest = set.digest();
        let text = format!(
            "rules:\n  - id: {}\n    title: Replaced\n    stride: [T]\n    target: {}\n    when: \"true\"\n    description: d\n    likelihood: 1\n    impact: 1\n",
            first.id,
            format!("{:?}", first.target).to_lowercase()
        );
        set.add_file(&text, "org/replace.yaml").unwrap();
        assert_eq!(set.rules()[0].spec.title, "Replaced");
        assert_eq!(set.get(&first.id).unwrap().origin, "org/replace.yaml:2");
        assert_ne!(set.digest(), digest, "the digest covers the added file");
    }
}
