//! Facts derived from the model's structure: which boundaries enclose a component and which
//! flows cross a trust boundary. These are computed, never typed by the author, because a
//! hand-typed "crosses boundary" flag is exactly the kind of fact that goes stale.

use std::collections::{BTreeSet, HashMap};

use crate::system::{SystemModel, TrustZone};

/// Boundary nesting resolved for fast lookups. Built once per draft.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// For each component id, the ids of all boundaries enclosing it (innermost first).
    enclosing: HashMap<String, Vec<String>>,
}

impl Topology {
    /// Resolves boundary membership. Cycles in nesting are tolerated here (validation reports
    /// them); a boundary is visited at most once per chain.
    pub fn new(model: &SystemModel) -> Topology {
        let mut parent: HashMap<&str, &str> = HashMap::new();
        for b in &model.trust_boundaries {
            for child in &b.boundaries {
                parent.entry(child.as_str()).or_insert(b.id.as_str());
            }
        }
        let mut enclosing: HashMap<String, Vec<String>> = HashMap::new();
        for b in &model.trust_boundaries {
            for member in &b.members {
                let mut chain = vec![b.id.clone()];
                let mut seen: BTreeSet<&str> = BTreeSet::from([b.id.as_str()]);
                let mut cur = b.id.as_str();
                while let Some(p) = parent.get(cur) {
                    if !seen.insert(p) {
                        break;
                    }
                    chain.push((*p).to_string());
                    cur = p;
                }
                enclosing.entry(member.clone()).or_insert(chain);
            }
        }
        Topology { enclosing }
    }

    /// Boundaries enclosing a component, innermost first; empty when it is in none.
    pub fn boundaries_of(&self, component_id: &str) -> &[String] {
        self.enclosing
            .get(component_id)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Boundaries a flow between two components crosses: those enclosing exactly one end.
    pub fn crossed_boundaries(&self, from: &str, to: &str) -> Vec<String> {
        let a: BTreeSet<&String> = self.boundaries_of(from).iter().collect();
        let b: BTreeSet<&String> = self.boundaries_of(to).iter().collect();
        a.symmetric_difference(&b).map(|s| (*s).clone()).collect()
    }

    /// A flow crosses a trust boundary when the ends sit in different boundaries, or when no
    /// boundaries are drawn but the ends are in different trust zones.
    pub fn crosses(&self, model: &SystemModel, from: &str, to: &str) -> bool {
        let zone = |id: &str| model.component(id).map(|c| c.effective_trust_zone());
        self.crosses_zones(from, to, zone(from), zone(to))
    }

    /// [`Topology::crosses`] with the ends' trust zones already looked up (callers that loop
    /// over many flows keep an index instead of searching the component list each time).
    pub fn crosses_zones(
        &self,
        from: &str,
        to: &str,
        from_zone: Option<TrustZone>,
        to_zone: Option<TrustZone>,
    ) -> bool {
        if self.boundaries_of(from) != self.boundaries_of(to) {
            return true;
        }
        match (from_zone, to_zone) {
            (Some(a), Some(b)) => a != b,
            _ => false,
        }
    }
}

/// Trust zones in order of trust, for "from less trusted to more trusted" checks.
pub fn trust_rank(zone: TrustZone) -> u8 {
    match zone {
        TrustZone::Internet => 0,
        TrustZone::ThirdParty => 1,
        TrustZone::Device => 1,
        TrustZone::Dmz => 2,
        TrustZone::Internal => 3,
        TrustZone::Restricted => 4,
    }
}
