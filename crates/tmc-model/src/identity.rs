//! Threat identity: "is this the same threat?" answered in one place.
//!
//! Every threat has an id (`<rule id>@<target id>` for rules; the source's id for imports and
//! models) and, computed here, a **fingerprint**: the targets, STRIDE letters, CWE ids and the
//! title with the targets' own names taken out. Ids survive re-drafts of rule threats; the
//! fingerprint lets a review decision follow a threat that has no stable id (knowledge base,
//! model, import, a person) or whose rule was renamed. [`same_threat`] is the looser test the
//! knowledge-base merge, the copilot merge and review carry-over share: same targets,
//! overlapping STRIDE and similar words.
//!
//! Pure functions over [`Threat`]; nothing here reads files or the clock.

use std::collections::BTreeSet;

use crate::draft::{TargetRef, Threat};

/// Title similarity (see [`title_similarity`]) above which two threats on the same targets
/// with a shared STRIDE letter are one threat. The copilot merge has used this value since it
/// was calibrated on model answers; review carry-over uses it for "needs confirmation".
pub const SAME_THREAT_SIMILARITY: f64 = 0.55;

/// Word overlap (Jaccard over [`words`]) at which two past-review titles are "similar" for the
/// knowledge base's rejection feedback: stricter than [`SAME_THREAT_SIMILARITY`] because it
/// compares threats of different systems.
pub const SIMILAR_TITLE_JACCARD: f64 = 0.5;

/// The content words of a text: lowercase alphanumeric runs longer than two characters, with
/// a plural `s` trimmed, as a set.
pub fn words(text: &str) -> BTreeSet<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
        .map(|w| w.trim_end_matches('s').to_string())
        .collect()
}

/// Jaccard overlap of the [`words`] of two texts; 0 when either has none.
pub fn word_jaccard(a: &str, b: &str) -> f64 {
    let (x, y) = (words(a), words(b));
    if x.is_empty() || y.is_empty() {
        return 0.0;
    }
    x.intersection(&y).count() as f64 / x.union(&y).count() as f64
}

/// Similarity of two titles: the larger of word overlap and normalised edit distance, so both
/// reworded and reordered titles match.
pub fn title_similarity(a: &str, b: &str) -> f64 {
    let lev = strsim::normalized_levenshtein(&a.to_lowercase(), &b.to_lowercase());
    word_jaccard(a, b).max(lev)
}

/// The title's words without the words of the targets' names, sorted: renaming an element
/// (its `name`, not its id) does not change what the threat is.
pub fn normalised_title(title: &str, targets: &[TargetRef]) -> String {
    let names: BTreeSet<String> = targets.iter().flat_map(|t| words(&t.name)).collect();
    let kept: Vec<String> = words(title)
        .into_iter()
        .filter(|w| !names.contains(w))
        .collect();
    kept.join(" ")
}

/// The canonical text a fingerprint is the hash of: `targets|stride|cwe|title`.
pub fn fingerprint_text(threat: &Threat) -> String {
    let mut targets: Vec<String> = threat
        .targets
        .iter()
        .map(|t| format!("{}:{}", t.kind.as_str(), t.id))
        .collect();
    targets.sort();
    targets.dedup();
    let mut stride: Vec<char> = threat.stride.iter().map(|s| s.letter()).collect();
    stride.sort_unstable();
    stride.dedup();
    let mut cwe = threat.references.cwe.clone();
    cwe.sort_unstable();
    cwe.dedup();
    let cwe: Vec<String> = cwe.iter().map(u32::to_string).collect();
    format!(
        "{}|{}|{}|{}",
        targets.join(","),
        stride.iter().collect::<String>(),
        cwe.join(","),
        normalised_title(&threat.title, &threat.targets)
    )
}

/// A stable fingerprint of a threat, 16 hex digits (FNV-1a 64 of [`fingerprint_text`]);
/// the same on every platform and every run.
pub fn fingerprint(threat: &Threat) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in fingerprint_text(threat).bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Whether two threats have exactly the same target ids (order and names ignored).
pub fn same_targets(a: &Threat, b: &Threat) -> bool {
    let ids = |t: &Threat| -> BTreeSet<(crate::TargetKind, String)> {
        t.targets.iter().map(|r| (r.kind, r.id.clone())).collect()
    };
    ids(a) == ids(b)
}

/// "Same threat?": same targets, at least one shared STRIDE letter, and a title similarity of
/// at least [`SAME_THREAT_SIMILARITY`] (or equal fingerprints).
pub fn same_threat(a: &Threat, b: &Threat) -> bool {
    if !same_targets(a, b) || !a.stride.iter().any(|s| b.stride.contains(s)) {
        return false;
    }
    fingerprint(a) == fingerprint(b)
        || title_similarity(&a.title, &b.title) >= SAME_THREAT_SIMILARITY
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::draft::*;

    fn threat(id: &str, title: &str, target: (&str, &str), stride: Stride, cwe: &[u32]) -> Threat {
        Threat {
            id: id.into(),
            title: title.into(),
            description: String::new(),
            stride: vec![stride],
            targets: vec![TargetRef::component(target.0, target.1)],
            references: References {
                cwe: cwe.to_vec(),
                ..References::default()
            },
            severity: SeverityAssessment {
                level: Severity::Medium,
                likelihood: 3,
                impact: 3,
                score: 9,
                factors: vec![],
                downgraded_by: None,
            },
            mitigations: vec![],
            provenance: Provenance::Manual { author: None },
            status: ThreatStatus::Draft,
            review: None,
        }
    }

    #[test]
    fn renaming_an_element_keeps_the_fingerprint() {
        let a = threat(
            "x",
            "Payments API accepts forged tokens",
            ("api", "Payments API"),
            Stride::Spoofing,
            &[287],
        );
        let b = threat(
            "y",
            "Billing Gateway accepts forged tokens",
            ("api", "Billing Gateway"),
            Stride::Spoofing,
            &[287],
        );
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert!(same_threat(&a, &b));
    }

    #[test]
    fn another_target_stride_or_cwe_changes_the_fingerprint() {
        let a = threat(
            "x",
            "Forged tokens",
            ("api", "API"),
            Stride::Spoofing,
            &[287],
        );
        let other_target = threat(
            "x",
            "Forged tokens",
            ("db", "API"),
            Stride::Spoofing,
            &[287],
        );
        let other_stride = threat(
            "x",
            "Forged tokens",
            ("api", "API"),
            Stride::Tampering,
            &[287],
        );
        let other_cwe = threat(
            "x",
            "Forged tokens",
            ("api", "API"),
            Stride::Spoofing,
            &[345],
        );
        for o in [&other_target, &other_stride, &other_cwe] {
            assert_ne!(fingerprint(&a), fingerprint(o));
        }
        assert!(!same_threat(&a, &other_target));
        assert!(!same_threat(&a, &other_stride));
    }

    #[test]
    fn fingerprint_is_a_fixed_value() {
        // Pinned: a change here orphans every stored fingerprint, so it must be deliberate.
        let a = threat(
            "x",
            "Forged tokens",
            ("api", "API"),
            Stride::Spoofing,
            &[287],
        );
        assert_eq!(fingerprint_text(&a), "component:api|S|287|forged token");
        assert_eq!(fingerprint(&a).len(), 16);
        assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
    }

    #[test]
    fn similarity_primitives() {
        assert!((word_jaccard("token replay attack", "replay of tokens") - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(word_jaccard("", "abc def"), 0.0);
        assert!(title_similarity("SQL injection", "sql injection") > 0.99);
    }
}
