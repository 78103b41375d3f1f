//! The generator mode: which parts made a draft. A type, so that "does this mode use the
//! knowledge base?" is a method and not a string test; it serialises to the strings that
//! `draft.generator.mode` has always held, so stored drafts keep their meaning.

use std::fmt;
use std::str::FromStr;

/// Which parts draft: rules, knowledge base, a language model, and the ablations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GeneratorMode {
    /// The offline rule engine alone.
    Rules,
    /// Rules plus knowledge-base retrieval (past reviewed threats, ASVS references).
    RulesKb,
    /// Rules plus a language model.
    RulesLlm,
    /// Rules plus the knowledge base plus a language model whose prompt carries retrieved
    /// passages.
    RulesKbLlm,
    /// A language model alone (ablation; the rules only give the coverage table).
    Llm,
    /// A language model with only the product description (ablation).
    PromptOnly,
}

impl GeneratorMode {
    pub const ALL: [GeneratorMode; 6] = [
        GeneratorMode::Rules,
        GeneratorMode::RulesKb,
        GeneratorMode::RulesLlm,
        GeneratorMode::RulesKbLlm,
        GeneratorMode::Llm,
        GeneratorMode::PromptOnly,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            GeneratorMode::Rules => "rules",
            GeneratorMode::RulesKb => "rules+kb",
            GeneratorMode::RulesLlm => "rules+llm",
            GeneratorMode::RulesKbLlm => "rules+kb+llm",
            GeneratorMode::Llm => "llm",
            GeneratorMode::PromptOnly => "prompt-only",
        }
    }

    /// The mode made of these parts: `kb` adds retrieval, `llm` the model, `baseline` keeps
    /// the rule threats (false only with a model: `llm`).
    pub fn compose(kb: bool, llm: bool, baseline: bool) -> GeneratorMode {
        match (kb, llm, baseline) {
            (_, true, false) => GeneratorMode::Llm,
            (true, true, true) => GeneratorMode::RulesKbLlm,
            (false, true, true) => GeneratorMode::RulesLlm,
            (true, false, _) => GeneratorMode::RulesKb,
            (false, false, _) => GeneratorMode::Rules,
        }
    }

    /// Whether rule threats stay in the draft (the baseline the model refines).
    pub fn keeps_rules(self) -> bool {
        matches!(
            self,
            GeneratorMode::Rules
                | GeneratorMode::RulesKb
                | GeneratorMode::RulesLlm
                | GeneratorMode::RulesKbLlm
        )
    }

    /// Whether past reviewed threats from the knowledge base augment the rule draft.
    pub fn augments_with_kb(self) -> bool {
        matches!(self, GeneratorMode::RulesKb | GeneratorMode::RulesKbLlm)
    }

    /// Whether a language model is called.
    pub fn uses_model(self) -> bool {
        matches!(
            self,
            GeneratorMode::RulesLlm
                | GeneratorMode::RulesKbLlm
                | GeneratorMode::Llm
                | GeneratorMode::PromptOnly
        )
    }

    /// The prompt the model gets: the whole model, or only the product description.
    pub fn prompt_mode(self) -> tmc_llm::PromptMode {
        match self {
            GeneratorMode::PromptOnly => tmc_llm::PromptMode::ProductOnly,
            _ => tmc_llm::PromptMode::Full,
        }
    }
}

impl fmt::Display for GeneratorMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GeneratorMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        GeneratorMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s.trim())
            .ok_or_else(|| {
                let names: Vec<&str> = GeneratorMode::ALL.iter().map(|m| m.as_str()).collect();
                format!("unknown mode `{s}`; use one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mode_round_trips_through_its_string() {
        for m in GeneratorMode::ALL {
            assert_eq!(m.as_str().parse::<GeneratorMode>(), Ok(m));
        }
        assert!("rules+llm+kb".parse::<GeneratorMode>().is_err());
    }

    #[test]
    fn composed_modes_are_the_strings_drafts_carried() {
        assert_eq!(GeneratorMode::compose(false, false, true).as_str(), "rules");
        assert_eq!(
            GeneratorMode::compose(true, false, true).as_str(),
            "rules+kb"
        );
        assert_eq!(
            GeneratorMode::compose(false, true, true).as_str(),
            "rules+llm"
        );
        assert_eq!(
            GeneratorMode::compose(true, true, true).as_str(),
            "rules+kb+llm"
        );
        assert_eq!(GeneratorMode::compose(true, true, false).as_str(), "llm");
    }
}
