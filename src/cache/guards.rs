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

/// Small numbers written as words, by value.
const NUMBER_WORDS: &[&str] = &[
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];

/// Tens written as words, from twenty.
const TENS_WORDS: &[&str] = &[
    "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

/// Ordinals written as words, by value ("second" is left out: it is more
/// often the unit of time).
const ORDINAL_WORDS: &[(&str, u32)] = &[
    ("first", 1),
    ("third", 3),
    ("fourth", 4),
    ("fifth", 5),
    ("sixth", 6),
    ("seventh", 7),
    ("eighth", 8),
    ("ninth", 9),
    ("tenth", 10),
    ("hundred", 100),
    ("thousand", 1000),
];

/// The value of a number word ("seven", "forty", "fifth", "hundred").
fn word_value(word: &str) -> Option<u32> {
    let lower = word.to_ascii_lowercase();
    let position = |table: &[&str]| table.iter().position(|w| *w == lower);
    if let Some(i) = position(NUMBER_WORDS) {
        return u32::try_from(i).ok();
    }
    if let Some(i) = position(TENS_WORDS) {
        return u32::try_from(i * 10 + 20).ok();
    }
    if let Some(&(_, v)) = ORDINAL_WORDS.iter().find(|(w, _)| *w == lower) {
        return Some(v);
    }
    roman_value(word)
}

/// The value of an upper-case Roman numeral of two letters or more
/// ("II", "XIV"; a lone "I" is the pronoun).
fn roman_value(word: &str) -> Option<u32> {
    if word.len() < 2 || word.len() > 6 || !word.chars().all(|c| "IVX".contains(c)) {
        return None;
    }
    let digit = |c: char| match c {
        'I' => 1,
        'V' => 5,
        _ => 10,
    };
    let digits: Vec<u32> = word.chars().map(digit).collect();
    let mut total = 0;
    for (i, d) in digits.iter().enumerate() {
        if digits.get(i + 1).is_some_and(|next| next > d) {
            total -= i64::from(*d);
        } else {
            total += i64::from(*d);
        }
    }
    u32::try_from(total).ok().filter(|v| *v > 0)
}

/// The numbers in a text, sorted: digit runs (`1,000` reads as `1000`; a
/// run inside a word, as in `k8s`, is not a number), small numbers, tens and
/// ordinals written as words (`twenty-five` reads as `25`), and upper-case
/// Roman numerals (`World War II`). One is left out: "a", "an" and "one"
/// say the same ("a mile" / "1 mile", "which one").
fn numbers(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut before_letter = false;
    let mut chars = text.chars().peekable();
    let mut previous: Option<char> = None;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() {
            if current.is_empty() {
                before_letter = previous.is_some_and(char::is_alphabetic);
            }
            current.push(c);
        } else if !current.is_empty()
            && (c == ',' || c == '.')
            && chars.peek().is_some_and(char::is_ascii_digit)
        {
            if c == '.' {
                current.push(c);
            }
        } else if !current.is_empty() {
            let inside_word = before_letter && c.is_alphabetic();
            let run = std::mem::take(&mut current);
            if !inside_word {
                out.push(run);
            }
        }
        previous = Some(c);
    }
    if !current.is_empty() {
        out.push(current);
    }
    let mut tens: Option<u32> = None;
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let value = word_value(word);
        match (tens.take(), value) {
            (Some(t), Some(v)) if v < 10 => {
                out.push((t + v).to_string());
                continue;
            }
            (Some(t), _) => out.push(t.to_string()),
            (None, _) => {}
        }
        match value {
            Some(v) if (20..100).contains(&v) && v % 10 == 0 => tens = Some(v),
            Some(v) => out.push(v.to_string()),
            None => {}
        }
    }
    if let Some(t) = tens {
        out.push(t.to_string());
    }
    out.retain(|n| n != "1");
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

/// Whether a prompt asks for a quantity ("how many", "how much").
fn asks_quantity(words: &[String]) -> bool {
    words
        .windows(2)
        .any(|w| w[0] == "how" && (w[1] == "many" || w[1] == "much"))
}

/// Whether some pair of words on either side of a directional word in `a`
/// sits on the opposite sides of the same directional word in `b`. "In"
/// sets a direction only between two quantity questions ("cups in a litre"
/// / "litres in a cup"); elsewhere it places ("in Seattle in December").
fn crosses(a: &[String], b: &[String]) -> bool {
    let quantities = asks_quantity(a) && asks_quantity(b);
    let directional = |(_, d): &(usize, &str)| quantities || *d != "in";
    let (ca, mut da) = layout(a);
    let (cb, mut db) = layout(b);
    da.retain(directional);
    db.retain(directional);
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
    fn numbers_read_in_words_and_numerals() {
        assert!(same_numbers(
            "What is 15% of 80?",
            "what's fifteen percent of 80"
        ));
        assert!(same_numbers(
            "a gift for a 10 year old",
            "a ten-year-old's gift"
        ));
        assert!(same_numbers("twenty-five squared", "25 squared"));
        assert!(same_numbers(
            "What year did World War II end?",
            "ww2 end year"
        ));
        assert!(same_numbers("walk a mile", "walk 1 mile"));
        assert!(same_numbers("which one is faster", "which is faster"));
        assert!(same_numbers("k8s pods", "kubernetes pods"));
        assert!(same_numbers("turn on 2FA", "turn on two-factor auth"));
        assert!(same_numbers("the fifth element", "the 5th element"));
        assert!(!same_numbers("World War I", "World War II"));
        assert!(!same_numbers("thirty minutes", "forty minutes"));
        assert!(!same_numbers("walk 1 mile", "walk 2 miles"));
        assert!(!same_numbers("Python 3", "Python 2"));
        assert!(!same_numbers("1 + 1", "1 + 2"));
        assert!(!same_numbers("seven times eight", "7 times 9"));
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
            (
                "What time does the sun set in Seattle in December?",
                "december sunset time in seattle",
            ),
            (
                "How many ounces are in a pound?",
                "What is a pound in ounces?",
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
