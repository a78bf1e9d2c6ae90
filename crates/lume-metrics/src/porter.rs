//! NLTK's Porter stemmer in its default `NLTK_EXTENSIONS` mode (not Snowball / Porter2),
//! rule for rule, because ROUGE with `use_stemmer=True` must match `rouge_score` exactly.
//!
//! Works on ASCII lowercase words, which is all the ROUGE tokenizer ever hands it.

/// Words NLTK maps by table before any rule runs.
const IRREGULAR: &[(&str, &str)] = &[
    ("sky", "sky"),
    ("skies", "sky"),
    ("dying", "die"),
    ("lying", "lie"),
    ("tying", "tie"),
    ("news", "news"),
    ("innings", "inning"),
    ("inning", "inning"),
    ("outings", "outing"),
    ("outing", "outing"),
    ("cannings", "canning"),
    ("canning", "canning"),
    ("howe", "howe"),
    ("proceed", "proceed"),
    ("exceed", "exceed"),
    ("succeed", "succeed"),
];

fn is_vowel(c: u8) -> bool {
    matches!(c, b'a' | b'e' | b'i' | b'o' | b'u')
}

/// `true` at consonants; `y` is a consonant at the start and after a vowel.
/// An iterator, so the hot helpers below allocate nothing.
fn consonant_flags(word: &[u8]) -> impl Iterator<Item = bool> + '_ {
    let mut previous = true;
    word.iter().enumerate().map(move |(i, &c)| {
        let flag = if is_vowel(c) {
            false
        } else if c == b'y' {
            i == 0 || !previous
        } else {
            true
        };
        previous = flag;
        flag
    })
}

fn is_consonant(word: &[u8], i: usize) -> bool {
    consonant_flags(&word[..=i]).last().unwrap_or(true)
}

/// Porter's m: the number of vowel-consonant transitions.
fn measure(stem: &[u8]) -> usize {
    let mut previous_vowel = false;
    let mut m = 0;
    for consonant in consonant_flags(stem) {
        if consonant && previous_vowel {
            m += 1;
        }
        previous_vowel = !consonant;
    }
    m
}

fn contains_vowel(stem: &[u8]) -> bool {
    consonant_flags(stem).any(|c| !c)
}

fn ends_double_consonant(word: &[u8]) -> bool {
    let n = word.len();
    n >= 2 && word[n - 1] == word[n - 2] && is_consonant(word, n - 1)
}

fn ends_cvc(word: &[u8]) -> bool {
    let n = word.len();
    if n >= 3 && !matches!(word[n - 1], b'w' | b'x' | b'y') {
        let mut last3 = [false; 3];
        for (i, f) in consonant_flags(word).enumerate().skip(n - 3) {
            last3[i + 3 - n] = f;
        }
        if last3 == [true, false, true] {
            return true;
        }
    }
    // NLTK extension: a two-letter vowel-consonant word also counts.
    n == 2 && !is_consonant(word, 0) && is_consonant(word, 1)
}

type Condition<'a> = &'a dyn Fn(&[u8]) -> bool;

/// A rule: suffix, replacement, and a condition on the stem (the word without the suffix).
/// `"*d"` stands for "ends in a double consonant".
struct Rule<'a>(&'a str, &'a str, Option<Condition<'a>>);

/// The first rule whose suffix matches decides: its replacement if the condition holds,
/// else the word unchanged.
fn apply_rules(word: Vec<u8>, rules: &[Rule<'_>]) -> Vec<u8> {
    for Rule(suffix, replacement, condition) in rules {
        if *suffix == "*d" && ends_double_consonant(&word) {
            let stem = &word[..word.len() - 2];
            return if condition.is_none_or(|c| c(stem)) {
                [stem, replacement.as_bytes()].concat()
            } else {
                word
            };
        }
        if word.ends_with(suffix.as_bytes()) {
            let stem = &word[..word.len() - suffix.len()];
            return if condition.is_none_or(|c| c(stem)) {
                [stem, replacement.as_bytes()].concat()
            } else {
                word
            };
        }
    }
    word
}

fn replace_suffix(word: &[u8], suffix: &str, replacement: &str) -> Vec<u8> {
    [&word[..word.len() - suffix.len()], replacement.as_bytes()].concat()
}

fn positive_measure(stem: &[u8]) -> bool {
    measure(stem) > 0
}

fn step1a(word: Vec<u8>) -> Vec<u8> {
    if word.ends_with(b"ies") && word.len() == 4 {
        return replace_suffix(&word, "ies", "ie");
    }
    apply_rules(
        word,
        &[
            Rule("sses", "ss", None),
            Rule("ies", "i", None),
            Rule("ss", "ss", None),
            Rule("s", "", None),
        ],
    )
}

fn step1b(word: Vec<u8>) -> Vec<u8> {
    if word.ends_with(b"ied") {
        let replacement = if word.len() == 4 { "ie" } else { "i" };
        return replace_suffix(&word, "ied", replacement);
    }
    if word.ends_with(b"eed") {
        let stem = &word[..word.len() - 3];
        return if measure(stem) > 0 {
            [stem, b"ee"].concat()
        } else {
            word
        };
    }
    let mut intermediate = None;
    for suffix in ["ed", "ing"] {
        if word.ends_with(suffix.as_bytes()) {
            let stem = &word[..word.len() - suffix.len()];
            if contains_vowel(stem) {
                intermediate = Some(stem.to_vec());
                break;
            }
        }
    }
    let Some(stem) = intermediate else {
        return word;
    };
    let last = stem[stem.len() - 1];
    let last_str = [last];
    let last_str = std::str::from_utf8(&last_str).unwrap_or("");
    let keep_double = |_: &[u8]| !matches!(last, b'l' | b's' | b'z');
    let add_e = |s: &[u8]| measure(s) == 1 && ends_cvc(s);
    apply_rules(
        stem,
        &[
            Rule("at", "ate", None),
            Rule("bl", "ble", None),
            Rule("iz", "ize", None),
            Rule("*d", last_str, Some(&keep_double)),
            Rule("", "e", Some(&add_e)),
        ],
    )
}

fn step1c(word: Vec<u8>) -> Vec<u8> {
    let condition = |stem: &[u8]| stem.len() > 1 && is_consonant(stem, stem.len() - 1);
    apply_rules(word, &[Rule("y", "i", Some(&condition))])
}

fn step2(word: Vec<u8>) -> Vec<u8> {
    if word.ends_with(b"alli") && positive_measure(&word[..word.len() - 4]) {
        return step2(replace_suffix(&word, "alli", "al"));
    }
    let pm: Condition<'_> = &positive_measure;
    // NLTK tests `logi` on the word less `ogi`, i.e. with the `l` kept.
    let logi_stem = word
        .get(..word.len().saturating_sub(3))
        .unwrap_or(&[])
        .to_vec();
    let logi = move |_: &[u8]| positive_measure(&logi_stem);
    let rules = [
        Rule("ational", "ate", Some(pm)),
        Rule("tional", "tion", Some(pm)),
        Rule("enci", "ence", Some(pm)),
        Rule("anci", "ance", Some(pm)),
        Rule("izer", "ize", Some(pm)),
        Rule("bli", "ble", Some(pm)),
        Rule("alli", "al", Some(pm)),
        Rule("entli", "ent", Some(pm)),
        Rule("eli", "e", Some(pm)),
        Rule("ousli", "ous", Some(pm)),
        Rule("ization", "ize", Some(pm)),
        Rule("ation", "ate", Some(pm)),
        Rule("ator", "ate", Some(pm)),
        Rule("alism", "al", Some(pm)),
        Rule("iveness", "ive", Some(pm)),
        Rule("fulness", "ful", Some(pm)),
        Rule("ousness", "ous", Some(pm)),
        Rule("aliti", "al", Some(pm)),
        Rule("iviti", "ive", Some(pm)),
        Rule("biliti", "ble", Some(pm)),
        Rule("fulli", "ful", Some(pm)),
        Rule("logi", "log", Some(&logi)),
    ];
    apply_rules(word, &rules)
}

fn step3(word: Vec<u8>) -> Vec<u8> {
    let pm: Condition<'_> = &positive_measure;
    apply_rules(
        word,
        &[
            Rule("icate", "ic", Some(pm)),
            Rule("ative", "", Some(pm)),
            Rule("alize", "al", Some(pm)),
            Rule("iciti", "ic", Some(pm)),
            Rule("ical", "ic", Some(pm)),
            Rule("ful", "", Some(pm)),
            Rule("ness", "", Some(pm)),
        ],
    )
}

fn step4(word: Vec<u8>) -> Vec<u8> {
    let gt1 = |stem: &[u8]| measure(stem) > 1;
    let m: Condition<'_> = &gt1;
    let ion = |stem: &[u8]| measure(stem) > 1 && matches!(stem.last(), Some(b's' | b't'));
    apply_rules(
        word,
        &[
            Rule("al", "", Some(m)),
            Rule("ance", "", Some(m)),
            Rule("ence", "", Some(m)),
            Rule("er", "", Some(m)),
            Rule("ic", "", Some(m)),
            Rule("able", "", Some(m)),
            Rule("ible", "", Some(m)),
            Rule("ant", "", Some(m)),
            Rule("ement", "", Some(m)),
            Rule("ment", "", Some(m)),
            Rule("ent", "", Some(m)),
            Rule("ion", "", Some(&ion)),
            Rule("ou", "", Some(m)),
            Rule("ism", "", Some(m)),
            Rule("ate", "", Some(m)),
            Rule("iti", "", Some(m)),
            Rule("ous", "", Some(m)),
            Rule("ive", "", Some(m)),
            Rule("ize", "", Some(m)),
        ],
    )
}

fn step5a(word: Vec<u8>) -> Vec<u8> {
    if word.ends_with(b"e") {
        let stem = &word[..word.len() - 1];
        let m = measure(stem);
        if m > 1 || (m == 1 && !ends_cvc(stem)) {
            return stem.to_vec();
        }
    }
    word
}

fn step5b(word: Vec<u8>) -> Vec<u8> {
    let whole = word[..word.len().saturating_sub(1)].to_vec();
    let condition = move |_: &[u8]| measure(&whole) > 1;
    apply_rules(word, &[Rule("ll", "l", Some(&condition))])
}

/// Stems one lowercase ASCII word as `nltk.stem.PorterStemmer().stem(word)` does.
///
/// ```
/// use lume_metrics::porter_stem;
/// assert_eq!(porter_stem("running"), "run");
/// assert_eq!(porter_stem("generously"), "gener");
/// assert_eq!(porter_stem("skies"), "sky");
/// assert_eq!(porter_stem("ties"), "tie");
/// ```
pub fn porter_stem(word: &str) -> String {
    let lower = word.to_lowercase();
    if let Some((_, stem)) = IRREGULAR.iter().find(|(w, _)| *w == lower) {
        return (*stem).to_owned();
    }
    if word.chars().count() <= 2 || !lower.is_ascii() {
        return lower;
    }
    let mut w = lower.into_bytes();
    w = step1a(w);
    w = step1b(w);
    w = step1c(w);
    w = step2(w);
    w = step3(w);
    w = step4(w);
    w = step5a(w);
    w = step5b(w);
    String::from_utf8(w).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::porter_stem;

    #[test]
    fn textbook_examples() {
        for (word, stem) in [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("cats", "cat"),
            ("feed", "feed"),
            ("agreed", "agre"),
            ("plastered", "plaster"),
            ("motoring", "motor"),
            ("sing", "sing"),
            ("conflated", "conflat"),
            ("hopping", "hop"),
            ("falling", "fall"),
            ("filing", "file"),
            ("happy", "happi"),
            ("relational", "relat"),
            ("triplicate", "triplic"),
            ("adjustment", "adjust"),
            ("controlling", "control"),
            ("rolling", "roll"),
            ("dying", "die"),
        ] {
            assert_eq!(porter_stem(word), stem, "{word}");
        }
    }
}
