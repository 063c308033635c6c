#!/usr/bin/env python3
"""Fails when a training group (the seeds, and held-out 4-6, which are
trained on) shares a sentence or a near-copy of one with the evaluation sets
that are not trained on (held-out 7-10), so that no figure on them is
inflated by training data.

Two sentences overlap when their content words (lower case, function words
left out) have a Jaccard similarity of 0.7 or more. Only counts and seed
line numbers are printed, never a held-out sentence: the newest set stays blind.

Usage: check_overlap.py [TRAINING.jsonl ...]  (default: the seeds and held-out 4-6)
"""

import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SETS = os.path.abspath(os.path.join(HERE, ".."))
TRAINED = [os.path.join(HERE, "seeds.jsonl")] + [os.path.join(SETS, f"heldout{n}.jsonl") for n in (4, 5, 6)]
HELD_OUT = ["heldout7.jsonl", "heldout8.jsonl", "heldout9.jsonl", "heldout10.jsonl"]
FUNCTION = set(
    "how do i the a an is are what to of can does my in for me you your should would there it with on at by "
    "from and or".split()
)
LIMIT = 0.7


def content(sentence):
    return frozenset(w for w in re.findall(r"[a-z0-9+#]+", sentence.lower()) if w not in FUNCTION)


def sentences(group):
    return [group["q"]] + group["same"] + group["different"]


def overlapping(seeds, held_out):
    """Positions (1-based) of training groups with a sentence too close to a held-out one."""
    others = [content(s) for g in held_out for s in sentences(g)]
    out = []
    for line, g in enumerate(seeds, 1):
        for s in sentences(g):
            words = content(s)
            if words and any(len(words & o) / len(words | o) >= LIMIT for o in others if o):
                out.append(line)
                break
    return out


def main():
    paths = sys.argv[1:] or TRAINED
    seeds = [json.loads(l) for path in paths for l in open(path) if l.strip()]
    failed = False
    for name in HELD_OUT:
        held_out = [json.loads(l) for l in open(os.path.join(SETS, name)) if l.strip()]
        lines = overlapping(seeds, held_out)
        print(f"{name}: {len(lines)} of {len(seeds)} training groups overlap" + (f" (lines {lines})" if lines else ""),
              file=sys.stderr)
        failed |= bool(lines)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
