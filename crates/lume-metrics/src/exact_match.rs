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

/// Whether no continuation of `generated` can make [`exact_match`] with `expected` 1 (nor the
/// text as it is): the generation has left the expected answer, so it can stop without
/// changing the knowledge score.
///
/// The last character of `generated` is not trusted (a token may end inside a character, and a
/// word's last letter may still change how it lower-cases: Σ), nor are `ς`/`σ` told apart, so a
/// generation is called decided only when it truly is.
///
/// ```
/// use lume_metrics::exact_match_decided;
/// assert!(!exact_match_decided("Madera", " Mad"));
/// assert!(!exact_match_decided("Madera", " madera\n"));
/// assert!(exact_match_decided("Madera", " Madrid is"));
/// assert!(exact_match_decided("Madera", "Madera. It"));
/// ```
pub fn exact_match_decided(expected: &str, generated: &str) -> bool {
    let fold = |s: &str| s.to_lowercase().replace('ς', "σ");
    let mut trusted = generated.trim_end_matches('\u{fffd}').chars();
    trusted.next_back();
    let so_far = fold(trusted.as_str().trim_start_matches(python_space));
    let want = fold(python_strip(expected));
    let open = want.starts_with(&so_far)
        || so_far
            .strip_prefix(&want)
            .is_some_and(|rest| rest.chars().all(python_space));
    !open
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

    #[test]
    fn a_decided_generation_scores_zero_however_it_goes_on() {
        let expected = " Οδός Madera ";
        let tails = [
            "",
            " ",
            "\n",
            "a",
            ".",
            "ς",
            "Σ Madera",
            " madera",
            "Madera  \n",
        ];
        for generated in [
            "",
            " ",
            "Ο",
            "οδ",
            "ΟΔΟΣ",
            "ΟΔΌΣ",
            "οδός ",
            "Οδός M",
            "Οδός Madera",
            "Οδός Madera\n",
            "Οδός Madera.",
            "Οδός Madr",
            "x",
            "Οδόσ",
            "\u{fffd}",
            "Οδός Madera \u{fffd}",
        ] {
            if exact_match_decided(expected, generated) {
                for tail in tails {
                    let text = format!("{generated}{tail}");
                    assert_eq!(exact_match(expected, &text), 0.0, "{text:?}");
                }
            }
        }
        assert!(!exact_match_decided(expected, "Οδός Madera\n"));
        assert!(!exact_match_decided(expected, "ΟΔΌΣ"));
        assert!(
            exact_match_decided(expected, "ΟΔΟΣ "),
            "no accent: never equal"
        );
        assert!(exact_match_decided(expected, "Οδός Madera. "));
    }
}
