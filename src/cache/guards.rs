//! Guards: cheap checks that can only turn a candidate hit into a miss,
//! run before the verifier (so they also spare it). Each reads the whole
//! pair in one linear pass over short prompts.
//!
//! - **numbers**: two prompts with different numbers ask different questions;
//! - **antonyms**: one prompt has a word where the other has its opposite
//!   ("high / low", "upload / download", "fastest / slowest"; WordNet 3.0
//!   antonyms of common words and their inflections, `antonyms.txt`);
//! - **direction**: the words on either side of a directional word trade
//!   places ("litres in a cup" / "cups in a litre", "from the laptop to the
//!   bucket" / "from the bucket to the laptop").

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

const ANTONYMS: &str = include_str!("antonyms.txt");

/// Words that set a direction between the words around them.
const DIRECTIONAL: &[&str] = &[
    "to", "from", "into", "onto", "than", "toward", "towards", "in", "per", "over", "under",
    "before", "after",
];

/// Function words skipped when looking for the words around a directional word.
const FUNCTION: &[&str] = &[
    "a", "an", "the", "my", "your", "our", "their", "his", "her", "its", "this", "that", "these",
    "those", "some", "any", "is", "are", "was", "were", "be", "do", "does", "did", "i", "you",
    "we", "me", "it", "there", "how", "what", "many", "much",
];

/// Suffixes whose forms of an antonym pair are antonyms too.
const SUFFIXES: &[&str] = &["", "s", "es", "ed", "ing", "er", "est", "ly"];

/// The form of `word` with `suffix`, with English spelling's usual changes
/// (`big` → `bigger`, `happy` → `happier`, `safe` → `safest`).
fn inflect(word: &str, suffix: &str) -> String {
    if suffix.is_empty() {
        return word.to_owned();
    }
    let vowel = |c: char| "aeiou".contains(c);
    let chars: Vec<char> = word.chars().collect();
    let n = chars.len();
    if suffix != "s" && suffix != "ly" && n >= 2 && chars[n - 1] == 'y' && !vowel(chars[n - 2]) {
        return format!("{}i{suffix}", &word[..word.len() - 1]);
    }
    if suffix.starts_with('e') && word.ends_with('e') {
        return format!("{word}{}", &suffix[1..]);
    }
    if n == 3
        && !vowel(chars[0])
        && vowel(chars[1])
        && !vowel(chars[2])
        && !"wxy".contains(chars[2])
        && (suffix.starts_with('e') || suffix == "ing")
    {
        return format!("{word}{}{suffix}", chars[2]);
    }
    format!("{word}{suffix}")
}

/// Each word's opposites, inflected forms included.
fn antonyms() -> &'static HashMap<String, HashSet<String>> {
    static TABLE: OnceLock<HashMap<String, HashSet<String>>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table: HashMap<String, HashSet<String>> = HashMap::new();
        for line in ANTONYMS.lines().filter(|l| !l.starts_with('#')) {
            let mut words = line.split_whitespace();
            let (Some(a), Some(b), None) = (words.next(), words.next(), words.next()) else {
                continue;
            };
            for suffix in SUFFIXES {
                let (x, y) = (inflect(a, suffix), inflect(b, suffix));
                table.entry(x.clone()).or_default().insert(y.clone());
                table.entry(y).or_default().insert(x);
            }
        }
        table
    })
}

/// Lower-case words (letters and digits) of a text.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A word without a plural `s` (enough to line up "cups" and "cup").
fn stem(word: &str) -> &str {
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        &word[..word.len() - 1]
    } else {
        word
    }
}

/// The numbers in a text (digit runs; `1,000` reads as `1000`), sorted.
fn numbers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            current.push(c);
        } else if !current.is_empty()
            && (c == ',' || c == '.')
            && chars.peek().is_some_and(char::is_ascii_digit)
        {
            if c == '.' {
                current.push(c);
            }
        } else if !current.is_empty() {
            out.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out.sort();
    out
}

/// Whether one prompt has a word where the other has its opposite.
fn antonym_swap(a: &[String], b: &[String]) -> bool {
    let only_a: HashSet<&str> = a
        .iter()
        .map(String::as_str)
        .filter(|w| !b.iter().any(|x| x == w))
        .collect();
    let only_b: HashSet<&str> = b
        .iter()
        .map(String::as_str)
        .filter(|w| !a.iter().any(|x| x == w))
        .collect();
    let table = antonyms();
    only_a.iter().any(|x| {
        table
            .get(*x)
            .is_some_and(|opposites| only_b.iter().any(|y| opposites.contains(*y)))
    })
}

/// Words with their positions in a prompt.
type Positioned<'a> = Vec<(usize, &'a str)>;

/// Content words (stemmed) and the directional words, with their positions.
fn layout(words: &[String]) -> (Positioned<'_>, Positioned<'_>) {
    let mut content = Vec::new();
    let mut directional = Vec::new();
    for (i, w) in words.iter().enumerate() {
        if DIRECTIONAL.contains(&w.as_str()) {
            directional.push((i, w.as_str()));
        } else if !FUNCTION.contains(&w.as_str()) {
            content.push((i, stem(w)));
        }
    }
    (content, directional)
}

/// Whether some pair of words on either side of a directional word in `a`
/// sits on the opposite sides of the same directional word in `b`.
fn crosses(a: &[String], b: &[String]) -> bool {
    let (ca, da) = layout(a);
    let (cb, db) = layout(b);
    let first = |content: &[(usize, &str)], word: &str| {
        content.iter().find(|(_, w)| *w == word).map(|(i, _)| *i)
    };
    for &(at, d) in &da {
        for &(_, x) in ca.iter().filter(|(i, _)| *i < at) {
            for &(_, y) in ca.iter().filter(|(i, _)| *i > at) {
                if x == y {
                    continue;
                }
                let (Some(xb), Some(yb)) = (first(&cb, x), first(&cb, y)) else {
                    continue;
                };
                if db.iter().any(|&(j, d2)| d2 == d && yb < j && j < xb) {
                    return true;
                }
            }
        }
    }
    false
}

/// Whether the words around a directional word trade places.
fn direction_swap(a: &[String], b: &[String]) -> bool {
    crosses(a, b) || crosses(b, a)
}

/// Two prompts with different numbers never ask the same question.
pub fn same_numbers(a: &str, b: &str) -> bool {
    numbers(a) == numbers(b)
}

/// Why two prompts cannot be the same question, if a guard can tell.
pub fn differ(a: &str, b: &str) -> Option<&'static str> {
    if !same_numbers(a, b) {
        return Some("numbers differ");
    }
    let (wa, wb) = (words(a), words(b));
    if antonym_swap(&wa, &wb) {
        return Some("opposite words");
    }
    if direction_swap(&wa, &wb) {
        return Some("direction swapped");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_must_agree() {
        assert!(same_numbers("12 x 13", "what's 13*12"));
        assert!(same_numbers("a 1,000 b", "a 1000 b"));
        assert!(!same_numbers("x + 3 = 10", "x + 3 = 12"));
        assert!(!same_numbers("3.5", "35"));
        assert!(!same_numbers("in 2010", "in general"));
        assert!(same_numbers("no numbers", "none here either"));
    }

    #[test]
    fn opposites_and_their_forms_differ() {
        for (a, b) in [
            (
                "Which foods are high in iron?",
                "which foods are low in iron",
            ),
            (
                "What is the fastest sorting algorithm?",
                "What is the slowest sorting algorithm?",
            ),
            ("How do I upload a file?", "how to download a file"),
            ("Which is bigger, A or B?", "Which is smaller, A or B?"),
        ] {
            assert_eq!(differ(a, b), Some("opposite words"), "{a} / {b}");
        }
        assert_eq!(
            differ("How do I fix my bike?", "How can I repair my bike?"),
            None
        );
    }

    #[test]
    fn swapped_directions_differ_and_reordering_does_not() {
        for (a, b) in [
            (
                "How many cups are in a liter?",
                "How many liters are in a cup?",
            ),
            (
                "copy from my laptop to the bucket",
                "copy from the bucket to my laptop",
            ),
            ("Convert JSON to YAML", "convert yaml to json"),
            ("Is Go faster than Java?", "Is Java faster than Go?"),
            (
                "How long is the flight from London to New York?",
                "How long is the flight from New York to London?",
            ),
        ] {
            assert_eq!(differ(a, b), Some("direction swapped"), "{a} / {b}");
        }
        for (a, b) in [
            (
                "In Python, how do I reverse a list?",
                "How do I reverse a list in Python?",
            ),
            ("postgres vs mysql", "mysql vs postgres"),
            (
                "How many grams are in a pound?",
                "pound to grams conversion?",
            ),
            (
                "convert 5 km to miles in Python",
                "in Python, convert 5 km to miles",
            ),
        ] {
            assert_eq!(differ(a, b), None, "{a} / {b}");
        }
    }

    #[test]
    fn inflections_follow_spelling() {
        assert_eq!(inflect("big", "er"), "bigger");
        assert_eq!(inflect("happy", "est"), "happiest");
        assert_eq!(inflect("safe", "er"), "safer");
        assert_eq!(inflect("fast", "est"), "fastest");
    }
}
