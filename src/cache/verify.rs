//! The second check on a near neighbour: embeddings put "100 Celsius to
//! Fahrenheit" and "100 Fahrenheit to Celsius" almost on top of each other,
//! so a cosine match alone is never enough. Two prompts count as the same
//! question only if they agree on numbers, quoted strings, named entities,
//! negation and direction.

use std::collections::BTreeSet;

use rust_stemmers::{Algorithm, Stemmer};

use super::synonyms;

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

/// Function words ignored when comparing the content of two prompts.
const STOPWORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "of",
    "to",
    "in",
    "on",
    "at",
    "for",
    "with",
    "by",
    "from",
    "about",
    "into",
    "as",
    "is",
    "are",
    "was",
    "were",
    "be",
    "been",
    "being",
    "am",
    "do",
    "does",
    "did",
    "can",
    "could",
    "would",
    "should",
    "will",
    "shall",
    "may",
    "might",
    "must",
    "i",
    "you",
    "we",
    "they",
    "he",
    "she",
    "it",
    "me",
    "us",
    "them",
    "my",
    "your",
    "our",
    "their",
    "his",
    "her",
    "its",
    "what",
    "which",
    "who",
    "whom",
    "whose",
    "when",
    "where",
    "why",
    "how",
    "that",
    "this",
    "these",
    "those",
    "there",
    "here",
    "and",
    "or",
    "but",
    "if",
    "then",
    "so",
    "please",
    "tell",
    "explain",
    "give",
    "show",
    "list",
    "some",
    "any",
    "just",
    "really",
    "way",
    "get",
    "make",
    "know",
    "like",
    "need",
    "want",
    "many",
    "much",
    "what's",
    "how's",
    "it's",
    "i'm",
    "let",
    "process",
    "steps",
    "step",
    "command",
    "idea",
    "ideas",
    "suggest",
    "suggestion",
    "recommend",
    "tip",
    "tips",
    "summary",
    "summarize",
    "summarise",
    "describe",
    "meaning",
    "mean",
    "definition",
    "define",
    "example",
    "method",
    "approach",
    "guide",
    "instructions",
    "someone",
    "something",
    "happen",
    "happens",
];

/// Particles that flip what a verb does ("turn on" / "turn off", "log in"
/// / "log out", "turn up" / "turn down"): a pair must use the same ones.
/// "on", "in" and "up" are left out: as prepositions and in phrasal verbs
/// ("set up") they come and go in paraphrases.
const FLIP_PARTICLES: &[&str] = &["off", "out", "down"];

fn particles(text: &str) -> BTreeSet<String> {
    words(text)
        .iter()
        .map(|w| w.to_lowercase())
        .filter(|w| FLIP_PARTICLES.contains(&w.as_str()))
        .collect()
}

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

/// Number words read as numbers ("three haikus" asks for 3).
const NUMBER_WORDS: &[(&str, &str)] = &[
    ("zero", "0"),
    ("one", "1"),
    ("two", "2"),
    ("three", "3"),
    ("four", "4"),
    ("five", "5"),
    ("six", "6"),
    ("seven", "7"),
    ("eight", "8"),
    ("nine", "9"),
    ("ten", "10"),
    ("eleven", "11"),
    ("twelve", "12"),
    ("dozen", "12"),
    ("twenty", "20"),
    ("thirty", "30"),
    ("forty", "40"),
    ("fifty", "50"),
    ("hundred", "100"),
    ("thousand", "1000"),
    ("million", "1000000"),
    ("billion", "1000000000"),
    ("once", "1"),
    ("twice", "2"),
    ("single", "1"),
    ("double", "2"),
    ("triple", "3"),
    ("half", "0.5"),
];

fn number_word(word: &str) -> Option<&'static str> {
    NUMBER_WORDS
        .iter()
        .find(|(w, _)| *w == word)
        .map(|(_, n)| *n)
}

/// Content words, lower-cased and stemmed (Snowball English), without
/// stopwords, filler and numbers (numbers are compared on their own).
fn content_stems(text: &str) -> BTreeSet<String> {
    let stemmer = Stemmer::create(Algorithm::English);
    words(text)
        .into_iter()
        .map(|w| w.trim_end_matches("'s").to_lowercase())
        .filter(|w| {
            !STOPWORDS.contains(&w.as_str())
                && !FILLER.contains(&w.as_str())
                && !is_number(w)
                && number_word(w).is_none()
        })
        .map(|w| stemmer.stem(&w).into_owned())
        .collect()
}

/// A substitution: the same question with a word or two swapped for
/// others ("high in iron" / "low in iron", "enable" / "disable", "adults" /
/// "babies", "bought online" / "bought in store"). Embeddings place such
/// pairs closest of all, yet they need another answer; paraphrases reword
/// more widely, reorder, only add or drop words, or swap a word for a
/// synonym in its common sense ("fix" / "repair"), so they pass.
fn substitution(a: &str, b: &str) -> bool {
    let (wa, wb) = (content_stems(a), content_stems(b));
    let shared = wa.intersection(&wb).count();
    let only_a: Vec<&String> = wa.difference(&wb).collect();
    let only_b: Vec<&String> = wb.difference(&wa).collect();
    if shared == 0 || only_a.is_empty() || only_b.is_empty() {
        return false;
    }
    if only_a.len() + only_b.len() > MAX_SUBSTITUTED {
        return false;
    }
    let synonyms = synonyms::table();
    let unmatched = |these: &[&String], those: &[&String]| {
        these
            .iter()
            .filter(|x| !those.iter().any(|y| synonyms.related(x, y)))
            .count()
    };
    unmatched(&only_a, &only_b) >= 1 && unmatched(&only_b, &only_a) >= 1
}

/// Largest number of differing content words still read as a swap.
const MAX_SUBSTITUTED: usize = 4;

fn quoted(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    // 'single quotes' open after a space and close before a non-letter, so
    // apostrophes (what's, don't) are not taken for quotes.
    let chars: Vec<char> = text.chars().collect();
    let mut open = None;
    for (i, c) in chars.iter().enumerate() {
        if !matches!(c, '\'' | '‘' | '’') {
            continue;
        }
        let before = i.checked_sub(1).map(|j| chars[j]);
        let after = chars.get(i + 1).copied();
        match open {
            None if before.is_none_or(char::is_whitespace)
                && after.is_some_and(|a| !a.is_whitespace()) =>
            {
                open = Some(i);
            }
            Some(start) if after.is_none_or(|a| !a.is_alphanumeric()) => {
                let inner = chars[start + 1..i]
                    .iter()
                    .collect::<String>()
                    .trim()
                    .to_lowercase();
                if !inner.is_empty() {
                    out.insert(inner);
                }
                open = None;
            }
            _ => {}
        }
    }

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
        let numbers: Vec<String> = ws
            .iter()
            .filter_map(|w| {
                if is_number(w) {
                    Some(w.trim_end_matches('%').replace(',', ""))
                } else {
                    number_word(&w.to_lowercase()).map(str::to_owned)
                }
            })
            .collect();
        // In order: "2 to the power of 10" is not "10 to the power of 2".
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
        && !substitution(a, b)
        && particles(a) == particles(b)
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
                "Give me a summary of \"War and Peace\", briefly",
            ),
            (
                "What's the best way to learn Spanish?",
                "What is the best way to learn Spanish?",
            ),
            (
                "How do I return a laptop I bought online?",
                "What is the process to return a laptop bought online?",
            ),
            (
                "How many legs does a spider have?",
                "How many legs do spiders have?",
            ),
            (
                "What's a good name for a pet turtle?",
                "Suggest a good name for my pet turtle.",
            ),
            // A word swapped for a synonym in its common sense.
            (
                "How do I fix my bike's brakes?",
                "How can I repair my bike's brakes?",
            ),
            (
                "When does the concert begin?",
                "When does the concert start?",
            ),
            (
                "What are some cheap hobbies?",
                "What are some inexpensive hobbies?",
            ),
            // An irregular form of the same verb.
            ("Who wrote this poem?", "By whom was this poem written?"),
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
            (
                "How do I return a laptop I bought online?",
                "How do I return a laptop I bought in store?",
            ),
            (
                "Translate 'good morning' into Italian",
                "Translate 'good night' into Italian",
            ),
            (
                "Which foods are high in iron?",
                "Which foods are low in iron?",
            ),
            (
                "How do I enable two-factor authentication?",
                "How do I disable two-factor authentication?",
            ),
            (
                "Write a haiku about autumn.",
                "Write three haikus about autumn.",
            ),
            (
                "How do I turn on dark mode?",
                "How do I turn off dark mode?",
            ),
            (
                "What is 2 to the power of 10?",
                "What is 10 to the power of 2?",
            ),
            // Swaps a dictionary blurs: a rare sense ("learn" as "teach"),
            // antonyms, converse roles.
            (
                "How do I learn Spanish quickly?",
                "How do I teach Spanish quickly?",
            ),
            ("How do I buy a used car?", "How do I sell a used car?"),
            (
                "Can I borrow money from my 401k?",
                "Can I lend money from my 401k?",
            ),
            (
                "What is the cheapest way to travel in Europe?",
                "What is the most expensive way to travel in Europe?",
            ),
        ] {
            assert!(!same_question(a, b), "{a} !~ {b}");
        }
    }
}
