//! Whether two words can stand for each other in a question: forms of one
//! word, an abbreviation, a typo, interchangeable function words, or
//! synonyms (WordNet 3.0 synsets, `synonyms.txt`, with its irregular forms,
//! `irregular.txt`; both written by
//! `bench/cache_quality/train/wordnet_synonyms.py`). The [`guards`]
//! use it to tell a reworded question from one with a content word swapped
//! for another ("the population of Iceland / of Reykjavik", "make / fly a
//! kite").
//!
//! [`guards`]: super::guards

use std::collections::HashMap;
use std::sync::OnceLock;

const SYNONYMS: &str = include_str!("synonyms.txt");
const IRREGULAR: &str = include_str!("irregular.txt");

/// Function words that trade places in rewordings without changing the
/// question ("how do I" / "how can I", "what is" / "what's").
const INTERCHANGEABLE: &[&[&str]] = &[
    &["a", "an", "the"],
    &["do", "does", "can", "could", "should", "would"],
    &["i", "me", "you", "we", "us", "one"],
    &["my", "your", "our"],
    &["is", "s"],
    &["are", "re"],
    &["have", "ve"],
    &["not", "t"],
    &["will", "ll"],
];

/// WordNet's detachment rules: a suffix and what replaces it in the base
/// form (nouns, verbs, adjectives together).
const DETACH: &[(&str, &str)] = &[
    ("s", ""),
    ("ses", "s"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("men", "man"),
    ("ies", "y"),
    ("es", "e"),
    ("es", ""),
    ("ed", "e"),
    ("ed", ""),
    ("ing", "e"),
    ("ing", ""),
    ("er", ""),
    ("er", "e"),
    ("est", ""),
    ("est", "e"),
];

/// Shortest word (in bytes) read as an abbreviation of a longer one or as
/// a typo of another.
const MIN_FORM: usize = 3;

struct Tables {
    /// Each word's synsets (line numbers of `synonyms.txt`), ascending.
    synsets: HashMap<&'static str, Vec<u32>>,
    /// Irregular form → base forms.
    irregular: HashMap<&'static str, Vec<&'static str>>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut synsets: HashMap<&'static str, Vec<u32>> = HashMap::new();
        let lines = SYNONYMS.lines().filter(|l| !l.starts_with('#'));
        for (n, line) in (0u32..).zip(lines) {
            for word in line.split_whitespace() {
                synsets.entry(word).or_default().push(n);
            }
        }
        let mut irregular: HashMap<&'static str, Vec<&'static str>> = HashMap::new();
        for line in IRREGULAR.lines().filter(|l| !l.starts_with('#')) {
            if let Some((form, base)) = line.split_once(' ') {
                irregular.entry(form).or_default().push(base);
            }
        }
        Tables { synsets, irregular }
    })
}

/// Builds the tables now, so that the first pair checked does not pay for
/// it (about 40,000 words).
pub fn warm() {
    let _ = tables();
}

/// The word and the base forms it may be an inflection of.
fn bases(word: &str) -> Vec<String> {
    let mut out = vec![word.to_owned()];
    if let Some(irregular) = tables().irregular.get(word) {
        out.extend(irregular.iter().map(|b| (*b).to_owned()));
    }
    for (suffix, replacement) in DETACH {
        if let Some(stem) = word.strip_suffix(suffix).filter(|s| s.len() >= 2) {
            out.push(format!("{stem}{replacement}"));
        }
    }
    out
}

/// Whether one word becomes the other by one adjacent transposition,
/// insertion or deletion (not a substitution: "Iceland" / "Ireland").
fn one_slip(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.len() < MIN_FORM + 1 {
        return false;
    }
    let prefix = short.iter().zip(long).take_while(|(x, y)| x == y).count();
    if long.len() == short.len() + 1 {
        return short[prefix..] == long[prefix + 1..];
    }
    long.len() == short.len()
        && prefix + 1 < short.len()
        && short[prefix] == long[prefix + 1]
        && short[prefix + 1] == long[prefix]
        && short[prefix + 2..] == long[prefix + 2..]
}

fn share(a: &[u32], b: &[u32]) -> bool {
    a.iter().any(|x| b.binary_search(x).is_ok())
}

/// Whether `b` may stand for `a` in a reworded question (lower-case words).
/// A prefix counts as an abbreviation only when it is no word of its own
/// ("vec" / "vector", not "java" / "javascript").
pub fn related(a: &str, b: &str) -> bool {
    if a == b
        || INTERCHANGEABLE
            .iter()
            .any(|g| g.contains(&a) && g.contains(&b))
    {
        return true;
    }
    let table = &tables().synsets;
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.len() >= MIN_FORM && long.starts_with(short) && !table.contains_key(short) {
        return true;
    }
    if one_slip(a, b) && !(table.contains_key(a) && table.contains_key(b)) {
        return true;
    }
    let (ba, bb) = (bases(a), bases(b));
    if ba.iter().any(|x| bb.contains(x)) {
        return true;
    }
    ba.iter().filter_map(|x| table.get(x.as_str())).any(|sa| {
        bb.iter()
            .filter_map(|y| table.get(y.as_str()))
            .any(|sb| share(sa, sb))
    })
}

/// Whether the two prompts' words line up one to one and differ in exactly
/// one place, where neither word can stand for the other: the same
/// question about another thing ("calibrate a kitchen / bathroom scale").
pub fn unrelated_swap(a: &[String], b: &[String]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut differing = a.iter().zip(b).filter(|(x, y)| x != y);
    match (differing.next(), differing.next()) {
        (Some((x, y)), None) => !related(x, y),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    }

    #[test]
    fn synonyms_forms_and_slips_are_related() {
        for (a, b) in [
            ("make", "build"),
            ("fix", "repair"),
            ("delete", "erase"),
            ("config", "configuration"),
            ("cups", "cup"),
            ("went", "go"),
            ("running", "run"),
            ("biggest", "big"),
            ("info", "information"),
            ("vec", "vector"),
            ("scale", "scael"),
            ("calibrate", "calibrte"),
            ("do", "can"),
            ("is", "s"),
            ("car", "automobile"),
        ] {
            assert!(related(a, b), "{a} / {b}");
            assert!(related(b, a), "{b} / {a}");
        }
    }

    #[test]
    fn other_words_are_not() {
        for (a, b) in [
            ("iceland", "reykjavik"),
            ("iceland", "ireland"),
            ("make", "fly"),
            ("yesterday", "tomorrow"),
            ("kitchen", "bathroom"),
            ("why", "when"),
            ("square", "cube"),
            ("plan", "plane"),
            ("violin", "viola"),
            ("java", "javascript"),
            ("cat", "catch"),
        ] {
            assert!(!related(a, b), "{a} / {b}");
        }
    }

    #[test]
    fn one_swapped_content_word_is_caught() {
        let swap = |a: &str, b: &str| unrelated_swap(&words(a), &words(b));
        assert!(swap(
            "What is the population of Iceland?",
            "What is the population of Reykjavik?"
        ));
        assert!(swap("How do I make a kite?", "How do I fly a kite?"));
        assert!(!swap("How do I make a kite?", "How can I build a kite?"));
        assert!(!swap("What is mitosis?", "what's mitosis"));
        assert!(!swap(
            "How do I calibrate a kitchen scale?",
            "how do i calibrate a kitchen scael"
        ));
        assert!(!swap("What is a black hole?", "Explain black holes"));
        assert!(!swap("same words", "same words"));
    }
}
