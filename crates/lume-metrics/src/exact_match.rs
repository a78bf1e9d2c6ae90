//! Knowledge score: exact match with Python `strip().lower()` semantics.

/// Python's `str.isspace()`: Unicode White_Space plus the ASCII separators `\x1c`–`\x1f`.
fn python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Python's `str.strip()` with no argument.
pub fn python_strip(s: &str) -> &str {
    s.trim_matches(python_space)
}

/// `1.0 if expected.strip().lower() == generated.strip().lower() else 0.0`.
///
/// ```
/// use lume_metrics::exact_match;
/// assert_eq!(exact_match("Madera", "  madera\n"), 1.0);
/// assert_eq!(exact_match("Madera", "Madera."), 0.0);
/// ```
pub fn exact_match(expected: &str, generated: &str) -> f64 {
    let a = python_strip(expected).to_lowercase();
    let b = python_strip(generated).to_lowercase();
    if a == b { 1.0 } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_python_whitespace_only() {
        assert_eq!(python_strip("\u{1f}\u{a0} a \u{2003}"), "a");
        assert_eq!(python_strip("\u{200b}a"), "\u{200b}a");
        assert_eq!(exact_match("ΣΑΣ", "σας"), 1.0);
    }
}
