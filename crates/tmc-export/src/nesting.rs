//! Boundary nesting resolved into a tree, for exporters that draw or nest (diagrams, Threat
//! Dragon, OTM).
//!
//! The model is validated elsewhere, but exporters must not loop or draw an element twice on a
//! model that is not: a component listed in two boundaries goes in the first, a boundary nested
//! in two goes in the first, a nesting cycle is cut, and unknown ids are ignored.

use std::collections::HashMap;

use tmc_model::topology::trust_rank;
use tmc_model::{SystemModel, TrustZone};

#[derive(Debug, Clone, Default)]
pub(crate) struct Nesting {
    /// Boundaries nested in no other, by index into `model.trust_boundaries`.
    pub roots: Vec<usize>,
    /// For each boundary, the boundaries directly inside it.
    pub children: Vec<Vec<usize>>,
    /// For each boundary, the components (by index into `model.components`) directly inside it.
    pub members: Vec<Vec<usize>>,
    /// For each boundary, its parent.
    pub parent: Vec<Option<usize>>,
    /// For each component, the boundary directly containing it.
    pub owner: Vec<Option<usize>>,
    /// Components in no boundary.
    pub loose: Vec<usize>,
}

impl Nesting {
    pub fn new(model: &SystemModel) -> Nesting {
        let nb = model.trust_boundaries.len();
        let comp: HashMap<&str, usize> = model
            .components
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.as_str(), i))
            .collect();
        let bidx: HashMap<&str, usize> = model
            .trust_boundaries
            .iter()
            .enumerate()
            .map(|(i, b)| (b.id.as_str(), i))
            .collect();
        let mut owner: Vec<Option<usize>> = vec![None; model.components.len()];
        let mut members = vec![Vec::new(); nb];
        for (bi, b) in model.trust_boundaries.iter().enumerate() {
            for m in &b.members {
                if let Some(&ci) = comp.get(m.as_str())
                    && owner[ci].is_none()
                {
                    owner[ci] = Some(bi);
                    members[bi].push(ci);
                }
            }
        }
        let mut parent: Vec<Option<usize>> = vec![None; nb];
        for (bi, b) in model.trust_boundaries.iter().enumerate() {
            for c in &b.boundaries {
                if let Some(&ci) = bidx.get(c.as_str())
                    && ci != bi
                    && parent[ci].is_none()
                {
                    parent[ci] = Some(bi);
                }
            }
        }
        // Cut cycles: walking up from a boundary must never come back to it.
        for start in 0..nb {
            let mut cur = parent[start];
            let mut steps = 0;
            while let Some(p) = cur {
                if p == start {
                    parent[start] = None;
                    break;
                }
                steps += 1;
                if steps > nb {
                    break;
                }
                cur = parent[p];
            }
        }
        let mut children = vec![Vec::new(); nb];
        let mut roots = Vec::new();
        for (bi, p) in parent.iter().enumerate() {
            match p {
                Some(p) => children[*p].push(bi),
                None => roots.push(bi),
            }
        }
        let loose = (0..model.components.len())
            .filter(|&i| owner[i].is_none())
            .collect();
        Nesting {
            roots,
            children,
            members,
            parent,
            owner,
            loose,
        }
    }

    /// Depth-first order of boundaries (parents before children), each exactly once.
    pub fn preorder(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack: Vec<usize> = self.roots.iter().rev().copied().collect();
        while let Some(b) = stack.pop() {
            out.push(b);
            stack.extend(self.children[b].iter().rev().copied());
        }
        out
    }

    /// The least trusted zone among a boundary's components (its own and nested ones); a boundary
    /// with no components counts as internal.
    pub fn least_trusted(&self, model: &SystemModel, bi: usize) -> TrustZone {
        let mut stack = vec![bi];
        let mut seen = vec![false; model.trust_boundaries.len()];
        let mut least: Option<TrustZone> = None;
        while let Some(b) = stack.pop() {
            if std::mem::replace(&mut seen[b], true) {
                continue;
            }
            for &ci in &self.members[b] {
                let z = model.components[ci].effective_trust_zone();
                least = Some(match least {
                    Some(l) if trust_rank(l) <= trust_rank(z) => l,
                    _ => z,
                });
            }
            stack.extend(self.children[b].iter().copied());
        }
        least.unwrap_or(TrustZone::Internal)
    }
}
