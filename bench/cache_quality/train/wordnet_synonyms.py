#!/usr/bin/env python3
"""Writes the cache guards' synonym tables from WordNet 3.0.

Reads the WordNet database (Debian: `apt-get install wordnet-base`, files in
/usr/share/wordnet) and writes, beside src/cache/guards.rs:

- synonyms.txt: one synset per line, its single-word lemmas (lower case),
  for every synset with at least two of them;
- irregular.txt: "inflected base" pairs of WordNet's exception lists
  ("went go", "children child") whose base is in synonyms.txt.

Usage: bench/cache_quality/train/wordnet_synonyms.py [WORDNET_DIR] [OUT_DIR]
"""

import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
POS = ("noun", "verb", "adj", "adv")
HEADER = (
    "# {what} WordNet 3.0 (licence: WORDNET-LICENSE beside this file).\n"
    "# Written by bench/cache_quality/train/wordnet_synonyms.py.\n"
)


def single_word(lemma):
    return re.fullmatch(r"[a-z]+", lemma) is not None


def synsets(wordnet):
    """Each synset's single-word lemmas, in file order."""
    for pos in POS:
        with open(os.path.join(wordnet, f"data.{pos}"), encoding="latin-1") as f:
            for line in f:
                if line.startswith("  "):
                    continue
                fields = line.split()
                count = int(fields[3], 16)
                lemmas = {re.sub(r"\(.*\)$", "", fields[4 + 2 * i]).lower() for i in range(count)}
                lemmas = sorted(w for w in lemmas if single_word(w))
                if len(lemmas) >= 2:
                    yield lemmas


def exceptions(wordnet, known):
    for pos in POS:
        with open(os.path.join(wordnet, f"{pos}.exc"), encoding="latin-1") as f:
            for line in f:
                words = line.split()
                if len(words) < 2:
                    continue
                inflected = words[0].lower()
                for base in words[1:]:
                    base = base.lower()
                    if single_word(inflected) and single_word(base) and base in known and inflected != base:
                        yield inflected, base


def main():
    wordnet = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/wordnet"
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(HERE, "..", "..", "..", "src", "cache")
    sets = sorted({tuple(s) for s in synsets(wordnet)})
    known = {w for s in sets for w in s}
    with open(os.path.join(out, "synonyms.txt"), "w") as f:
        f.write(HEADER.format(what="Synonym sets (single words, two or more per set) of"))
        for s in sets:
            f.write(" ".join(s) + "\n")
    pairs = sorted(set(exceptions(wordnet, known)))
    with open(os.path.join(out, "irregular.txt"), "w") as f:
        f.write(HEADER.format(what="Irregular forms (inflected, base) of"))
        for inflected, base in pairs:
            f.write(f"{inflected} {base}\n")
    print(f"{len(sets)} synsets, {len(known)} words, {len(pairs)} irregular forms", file=sys.stderr)


if __name__ == "__main__":
    main()
