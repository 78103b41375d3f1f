//! "Did you mean" suggestions for misspelt names.

/// The candidate closest to `given`, if it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let mut best: Option<(&str, f64)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(&given.to_ascii_lowercase(), &c.to_ascii_lowercase());
        if best.is_none_or(|(_, s)| score > s) {
            best = Some((c, score));
        }
    }
    best.filter(|(_, s)| *s >= 0.8).map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["internet_facing", "in_scope", "input_validation"];
        assert_eq!(
            did_you_mean("internet_facin", names),
            Some("internet_facing")
        );
        assert_eq!(
            did_you_mean("inputvalidation", names),
            Some("input_validation")
        );
        assert_eq!(did_you_mean("zzzz", names), None);
    }
}
