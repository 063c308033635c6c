//! Which words a rewording may swap: a synonym table from WordNet 3.0
//! (`synonyms.txt`, built by `scripts/build_synonyms.py`; licence in
//! `WORDNET-LICENSE`). Each line is one common sense of its words; words
//! that share a line mean the same there ("fix" / "repair"), antonym
//! pairs (`!` lines) never do, and `=` lines map irregular forms to their
//! base ("written" → "write").

use std::collections::HashMap;
use std::sync::OnceLock;

use rust_stemmers::{Algorithm, Stemmer};

const TABLE: &str = include_str!("synonyms.txt");

/// Senses and antonyms keyed by Snowball English stems, as the second check
/// compares words.
#[derive(Debug, Default)]
pub struct Synonyms {
    senses: HashMap<String, Vec<u32>>,
    /// Each stem's antonyms, both ways.
    antonyms: HashMap<String, Vec<String>>,
    bases: HashMap<String, String>,
}

impl Synonyms {
    /// Parses the table format: one sense per line, `! a b` for antonyms,
    /// `= form base` for irregular forms, `#` comments.
    pub fn parse(text: &str) -> Self {
        let stemmer = Stemmer::create(Algorithm::English);
        let mut out = Self::default();
        let mut sense = 0u32;
        for line in text.lines() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let pair = |rest: &str| {
                let mut words = rest
                    .split_whitespace()
                    .map(|w| stemmer.stem(w).into_owned());
                words.next().zip(words.next())
            };
            if let Some(rest) = line.strip_prefix("! ") {
                if let Some((a, b)) = pair(rest) {
                    out.antonyms.entry(a.clone()).or_default().push(b.clone());
                    out.antonyms.entry(b).or_default().push(a);
                }
                continue;
            }
            if let Some(rest) = line.strip_prefix("= ") {
                if let Some((form, base)) = pair(rest) {
                    out.bases.insert(form, base);
                }
                continue;
            }
            for word in line.split_whitespace() {
                let senses = out
                    .senses
                    .entry(stemmer.stem(word).into_owned())
                    .or_default();
                if senses.last() != Some(&sense) {
                    senses.push(sense);
                }
            }
            sense += 1;
        }
        out
    }

    /// Whether two stems are forms of one word, or share a common sense
    /// and are not antonyms. Each is tried as written and as its base, as
    /// some forms are words of their own ("people" is also "person").
    pub fn related(&self, a: &str, b: &str) -> bool {
        self.forms(a)
            .any(|x| self.forms(b).any(|y| self.share_sense(x, y)))
    }

    fn forms<'a>(&'a self, stem: &'a str) -> impl Iterator<Item = &'a str> {
        std::iter::once(stem).chain(self.bases.get(stem).map(String::as_str))
    }

    fn share_sense(&self, a: &str, b: &str) -> bool {
        if a == b {
            return true;
        }
        let (Some(sa), Some(sb)) = (self.senses.get(a), self.senses.get(b)) else {
            return false;
        };
        sa.iter().any(|s| sb.contains(s))
            && !self
                .antonyms
                .get(a)
                .is_some_and(|o| o.iter().any(|x| x == b))
    }
}

/// The shipped table, parsed on first use (the cache warms it at start-up).
pub fn table() -> &'static Synonyms {
    static PARSED: OnceLock<Synonyms> = OnceLock::new();
    PARSED.get_or_init(|| Synonyms::parse(TABLE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_senses_relate_and_antonyms_never_do() {
        let t = table();
        assert!(t.related("fix", "repair"));
        assert!(t.related("begin", "start"));
        assert!(t.related("cheap", "inexpens"));
        assert!(t.related("wrote", "written"));
        assert!(t.related("bought", "purchas"));
        // Antonyms, rare senses ("learn" as "teach") and roles are not
        // synonyms.
        assert!(!t.related("buy", "sell"));
        assert!(!t.related("high", "low"));
        assert!(!t.related("learn", "teach"));
        assert!(!t.related("employ", "employe"));
        assert!(!t.related("unknownword", "repair"));
    }

    #[test]
    fn antonym_lines_override_shared_senses() {
        let t = Synonyms::parse("fast quick\nfast slow\n! fast slow\n");
        assert!(t.related("fast", "quick"));
        assert!(!t.related("fast", "slow"));
    }
}
