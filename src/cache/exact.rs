//! The exact tier: a digest of the scope and the prompt after trivial
//! normalisation (case, runs of whitespace, sentence punctuation before a
//! space or at the end). Two prompts with one digest are the same question
//! by construction, so a match needs no model.

use sha2::{Digest, Sha256};

/// Punctuation that ends a clause or sentence and carries no meaning when
/// it is followed by a space or ends the prompt (`"3.5"` and `"a,b"` keep it).
fn is_sentence_punct(c: char) -> bool {
    matches!(c, '?' | '!' | '.' | ',' | ';' | ':' | '¿' | '¡' | '…')
}

/// Feeds normalised text to a hasher through a small buffer.
struct Feed {
    hasher: Sha256,
    buffer: Vec<u8>,
}

impl Feed {
    fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= 8192 {
            self.hasher.update(&self.buffer);
            self.buffer.clear();
        }
    }

    fn finish(mut self) -> String {
        self.hasher.update(&self.buffer);
        let digest = self.hasher.finalize();
        crate::hex::hex(&digest)
    }
}

/// The exact-tier digest of `text` within `scope`: one linear pass, no
/// copy of the text.
pub fn digest(scope: &str, text: &str) -> String {
    let mut feed = Feed {
        hasher: Sha256::new(),
        buffer: Vec::with_capacity(8192 + 8),
    };
    feed.push(scope.as_bytes());
    feed.push(b"\n");
    let mut space = false;
    let mut started = false;
    // Punctuation held back until we know what follows it: (start, end)
    // byte offsets of the run in `text`.
    let mut held: Option<(usize, usize)> = None;
    for (at, c) in text.char_indices() {
        if c.is_whitespace() {
            held = None;
            space = started;
            continue;
        }
        if is_sentence_punct(c) {
            held = Some(held.map_or((at, at + c.len_utf8()), |(s, _)| (s, at + c.len_utf8())));
            continue;
        }
        if space {
            feed.push(b" ");
            space = false;
        }
        if let Some((s, e)) = held.take() {
            feed.push(&text.as_bytes()[s..e]);
        }
        if c.is_ascii() {
            feed.push(&[c.to_ascii_lowercase() as u8]);
        } else {
            let mut buf = [0u8; 4];
            for lower in c.to_lowercase() {
                feed.push(lower.encode_utf8(&mut buf).as_bytes());
            }
        }
        started = true;
    }
    feed.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trivial_differences_share_a_digest() {
        let base = digest("s", "What is Kubernetes and why do people use it?");
        for same in [
            "what is kubernetes, and why do people use it",
            "  What  is Kubernetes and\nwhy do people use it ?? ",
            "WHAT IS KUBERNETES AND WHY DO PEOPLE USE IT.",
        ] {
            assert_eq!(digest("s", same), base, "{same}");
        }
    }

    #[test]
    fn anything_more_changes_the_digest() {
        let base = digest("s", "Solve x + 3 = 10.");
        for other in [
            "Solve x - 3 = 10.",
            "Solve x + 3 = 1.0",
            "Solve x + 3 = 100",
            "Solve x+3=10",
            "Solve y + 3 = 10",
        ] {
            assert_ne!(digest("s", other), base, "{other}");
        }
        assert_ne!(digest("t", "Solve x + 3 = 10."), base, "scopes never share");
        assert_ne!(digest("s", "3.5 or 35"), digest("s", "35 or 35"));
        assert_ne!(digest("s", "a,b"), digest("s", "ab"));
        assert_eq!(digest("s", "ÉCOLE d'été?"), digest("s", "école d'été"));
    }
}
