//! The second check on a near neighbour: embeddings put "100 Celsius to
//! Fahrenheit" and "100 Fahrenheit to Celsius" almost on top of each other,
//! so a cosine match alone is never enough. Two prompts count as the same
//! question only if they agree on numbers, quoted strings, named entities,
//! negation and direction.

use std::collections::BTreeSet;

/// Words that start questions or are capitalised for grammar, not meaning.
const NOT_ENTITIES: &[&str] = &[
    "i", "what", "how", "why", "when", "where", "who", "which", "whose", "can", "could", "would",
    "should", "is", "are", "do", "does", "did", "please", "tell", "explain", "give", "list",
    "show", "the", "a", "an", "in", "on", "of", "for", "and", "or", "to", "my", "me", "it", "its",
    "this", "that", "these", "those", "hi", "hello", "hey", "ok", "okay",
];

/// Words that flip a statement.
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "none", "neither", "nor", "without", "nobody", "nothing", "cannot",
];

/// Connectors whose two sides must not be swapped.
const DIRECTIONAL: &[&str] = &[
    "to", "into", "from", "than", "vs", "versus", "over", "before", "after", "per",
];

/// Words too common to anchor a direction.
const FILLER: &[&str] = &[
    "the",
    "a",
    "an",
    "of",
    "my",
    "your",
    "is",
    "are",
    "be",
    "it",
    "in",
    "on",
    "and",
    "or",
    "how",
    "what",
    "do",
    "i",
    "convert",
    "go",
    "get",
    "translate",
    "change",
    "want",
    "need",
    "like",
    "way",
];

#[derive(Debug, PartialEq, Eq)]
struct Features {
    numbers: Vec<String>,
    quoted: BTreeSet<String>,
    /// Named entities in order of first appearance: swapping two entities
    /// ("Is Python faster than Rust?") changes the question.
    entities: Vec<String>,
    negated: bool,
    directions: BTreeSet<(String, String)>,
}

fn words(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '.' || c == '%' || c == '-'))
        .map(|w| w.trim_matches(|c: char| c == '.' || c == '\'' || c == '-'))
        .filter(|w| !w.is_empty())
        .collect()
}

fn is_number(word: &str) -> bool {
    word.chars().any(|c| c.is_ascii_digit())
}

/// Capitalised words that are not a sentence's first word, lower-cased, in
/// order of first appearance.
fn entities(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for sentence in text.split(['.', '?', '!', ';', ':', '\n']) {
        for w in words(sentence).into_iter().skip(1) {
            let capitalised = w.chars().next().is_some_and(char::is_uppercase);
            let lower = w.trim_end_matches("'s").to_lowercase();
            if capitalised
                && !is_number(w)
                && !NOT_ENTITIES.contains(&lower.as_str())
                && !out.contains(&lower)
            {
                out.push(lower);
            }
        }
    }
    out
}

fn quoted(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for quote in ['"', '“', '”', '`'] {
        let parts: Vec<&str> = text.split(quote).collect();
        for inner in parts.iter().skip(1).step_by(2).take(parts.len() / 2) {
            let inner = inner.trim().to_lowercase();
            if !inner.is_empty() {
                out.insert(inner);
            }
        }
    }
    out
}

impl Features {
    fn of(text: &str) -> Self {
        let ws = words(text);
        let mut numbers: Vec<String> = ws
            .iter()
            .filter(|w| is_number(w))
            .map(|w| w.trim_end_matches('%').replace(',', ""))
            .collect();
        numbers.sort();
        let entities = entities(text);
        let lower: Vec<String> = ws.iter().map(|w| w.to_lowercase()).collect();
        let negations = lower
            .iter()
            .filter(|w| NEGATIONS.contains(&w.as_str()) || w.ends_with("n't"))
            .count();
        let content =
            |w: &String| !FILLER.contains(&w.as_str()) && !DIRECTIONAL.contains(&w.as_str());
        let mut directions = BTreeSet::new();
        for (i, w) in lower.iter().enumerate() {
            if !DIRECTIONAL.contains(&w.as_str()) {
                continue;
            }
            let before = lower[..i].iter().rev().find(|w| content(w));
            let after = lower[i + 1..].iter().find(|w| content(w));
            if let (Some(b), Some(a)) = (before, after) {
                directions.insert((b.clone(), a.clone()));
            }
        }
        Self {
            numbers,
            quoted: quoted(text),
            entities,
            negated: negations % 2 == 1,
            directions,
        }
    }
}

/// Whether `a` and `b` (already close in embedding space) ask the same
/// question as far as numbers, quotes, entities, negation and direction go.
pub fn same_question(a: &str, b: &str) -> bool {
    let (fa, fb) = (Features::of(a), Features::of(b));
    let swapped = fa
        .directions
        .iter()
        .any(|(x, y)| fb.directions.contains(&(y.clone(), x.clone())) && x != y);
    fa.numbers == fb.numbers
        && fa.quoted == fb.quoted
        && fa.entities == fb.entities
        && fa.negated == fb.negated
        && !swapped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paraphrases_pass() {
        for (a, b) in [
            (
                "What is the capital of France?",
                "Which city is the capital of France?",
            ),
            (
                "How do I convert 100 Celsius to Fahrenheit?",
                "Convert 100 Celsius to Fahrenheit please",
            ),
            (
                "Explain how photosynthesis works",
                "how does photosynthesis work?",
            ),
            (
                "Summarize \"War and Peace\" briefly",
                "Give me a short summary of \"War and Peace\"",
            ),
        ] {
            assert!(same_question(a, b), "{a} ~ {b}");
        }
    }

    #[test]
    fn near_duplicates_with_other_answers_fail() {
        for (a, b) in [
            (
                "How do I convert 100 Celsius to Fahrenheit?",
                "How do I convert 100 Fahrenheit to Celsius?",
            ),
            (
                "How do I convert 100 Celsius to Fahrenheit?",
                "How do I convert 37 Celsius to Fahrenheit?",
            ),
            (
                "What is the capital of France?",
                "What is the capital of Germany?",
            ),
            ("Is coffee good for you?", "Is coffee not good for you?"),
            (
                "Translate \"good morning\" into Spanish",
                "Translate \"good night\" into Spanish",
            ),
            (
                "What was the GDP of Japan in 2019?",
                "What was the GDP of Japan in 2020?",
            ),
            ("Is Python faster than Rust?", "Is Rust faster than Python?"),
        ] {
            assert!(!same_question(a, b), "{a} !~ {b}");
        }
    }
}
