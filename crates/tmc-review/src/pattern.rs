//! Threat keys with `*` wildcards. A `*` matches any run of characters except `@`, so a
//! pattern matches per id part: `TMC-AUTHN-*@payments-api` covers every AUTHN rule on
//! `payments-api`, `*@legacy-db` every rule threat on `legacy-db`, and neither can reach
//! across the `@` into another part.

/// Whether a key is a pattern (has a `*`).
pub fn is_pattern(key: &str) -> bool {
    key.contains('*')
}

/// Whether `pattern` covers `id`.
pub fn matches(pattern: &str, id: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let s: Vec<char> = id.chars().collect();
    // Iterative glob with one backtrack point; `*` may not consume `@`.
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star
            && s[ss] != '@'
        {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// How specific a pattern is: its number of literal (non-`*`) characters. Among patterns that
/// cover a threat, the most specific wins; ties go to the first key in sorted order.
pub fn specificity(pattern: &str) -> usize {
    pattern.chars().filter(|c| *c != '*').count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_stay_inside_their_part() {
        assert!(matches(
            "TMC-AUTHN-*@payments-api",
            "TMC-AUTHN-001@payments-api"
        ));
        assert!(matches("*@legacy-db", "TMC-X-1@legacy-db"));
        assert!(matches("*@*", "A@B"));
        assert!(!matches("*", "A@B"));
        assert!(matches("*", "KB-17"));
        assert!(!matches("*@legacy-db", "TMC-X-1@legacy-db-2"));
        assert!(!matches("TMC-*@a", "TMC-1@b"));
        assert!(matches("TMC-**-1@a", "TMC-X-1@a"));
        assert!(!matches(
            "TMC-AUTHN-*@payments-api",
            "TMC-AUTHN-001@x@payments-api"
        ));
    }
}
