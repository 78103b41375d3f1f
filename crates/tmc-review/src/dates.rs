//! Date and time checks without a calendar crate: decisions carry `YYYY-MM-DD` dates and
//! RFC 3339 times as text (they are compared as text, which orders correctly once checked).

/// `YYYY-MM-DD` with a real month and day (leap years included).
pub fn is_date(text: &str) -> bool {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let s = text.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    let (Some(y), Some(m), Some(d)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}

/// RFC 3339 date-time: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub fn is_rfc3339(text: &str) -> bool {
    let Some(date) = text.get(0..10) else {
        return false;
    };
    if !is_date(date) || !matches!(text.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return false;
    }
    let rest = &text[11..];
    let two = |s: &str, max: u32| {
        s.len() == 2
            && s.bytes().all(|c| c.is_ascii_digit())
            && s.parse::<u32>().is_ok_and(|v| v <= max)
    };
    let (Some(h), Some(mi), Some(se)) = (rest.get(0..2), rest.get(3..5), rest.get(6..8)) else {
        return false;
    };
    if !(two(h, 23) && two(mi, 59) && two(se, 60))
        || rest.as_bytes().get(2) != Some(&b':')
        || rest.as_bytes().get(5) != Some(&b':')
    {
        return false;
    }
    let mut tail = &rest[8..];
    if let Some(frac) = tail.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        tail = &frac[digits..];
    }
    match tail {
        "Z" | "z" => true,
        _ => {
            let b = tail.as_bytes();
            b.len() == 6
                && matches!(b[0], b'+' | b'-')
                && b[3] == b':'
                && tail.get(1..3).is_some_and(|s| two(s, 23))
                && tail.get(4..6).is_some_and(|s| two(s, 59))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2023-02-29"));
        assert!(!is_date("2025-13-01"));
        assert!(!is_date("2025-1-01"));
        assert!(!is_date("2025-01-00"));
        assert!(!is_date("２０２５-01-01"));
        assert!(is_rfc3339("2025-03-01T10:00:00Z"));
        assert!(is_rfc3339("2025-03-01T10:00:00.123+01:00"));
        assert!(!is_rfc3339("2025-03-01"));
        assert!(!is_rfc3339("2025-03-01T25:00:00Z"));
        assert!(!is_rfc3339("2025-03-01T10:00:00"));
        assert!(!is_rfc3339("2025-03-01T10:00:00+é:00"));
    }
}
