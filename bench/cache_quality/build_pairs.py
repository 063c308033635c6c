#!/usr/bin/env python3
"""Builds the semantic-cache quality set as JSON lines {"a", "b", "same", "source", "kind"}.

- `contradish` (PyPI, MIT) benchmarks/v1: each original question with its
  rewordings, labelled as paraphrases. Some rewordings add context that
  changes the ideal answer, so this source is noisy for recall and is
  reported separately.
- The team's own minimal pairs, generated here from templates with a fixed
  seed: true paraphrases, and hard negatives that embed close but need a
  different answer (other number, swapped direction, other entity, negation,
  added qualifier, other language or unit).

Usage: bench/cache_quality/build_pairs.py OUT.jsonl
"""

import glob
import json
import random
import subprocess
import sys
import tempfile
import zipfile

CONTRADISH = "contradish==1.34.0"


def contradish_pairs():
    with tempfile.TemporaryDirectory() as work:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", work, CONTRADISH], check=True)
        wheel = zipfile.ZipFile(glob.glob(f"{work}/*.whl")[0])
        for name in sorted(n for n in wheel.namelist() if n.startswith("contradish/benchmarks/v1/") and n.endswith(".json")):
            for case in json.loads(wheel.read(name))["cases"]:
                for reworded in case["adversarial"]:
                    yield {"a": case["original"], "b": reworded, "same": True, "source": "contradish", "kind": "rewording"}


CITIES = ["Paris", "Berlin", "Madrid", "Rome", "Tokyo", "Cairo", "Lima", "Oslo", "Toronto", "Sydney"]
LANGS = ["French", "German", "Spanish", "Italian", "Japanese", "Portuguese"]
UNITS = [("Celsius", "Fahrenheit"), ("kilometers", "miles"), ("kilograms", "pounds"), ("liters", "gallons"),
         ("meters", "feet"), ("euros", "dollars")]
LANGS_CODE = [("Python", "Rust"), ("Java", "Go"), ("JavaScript", "TypeScript"), ("C", "Zig")]
ITEMS = ["laptop", "phone", "bicycle", "washing machine", "sofa", "camera"]


def team_pairs(rng):
    for _ in range(30):
        a, b = rng.sample(CITIES, 2)
        yield ("What is the population of {a}?".format(a=a), "How many people live in {a}?".format(a=a), True, "paraphrase")
        yield ("What is the population of {a}?".format(a=a), "What is the population of {b}?".format(b=b), False, "entity")
        yield ("How far is {a} from {b}?".format(a=a, b=b), "What is the distance between {a} and {b}?".format(a=a, b=b), True, "paraphrase")
        yield ("Is it cheaper to fly from {a} to {b} or take the train?".format(a=a, b=b),
               "Is it cheaper to fly from {b} to {a} or take the train?".format(a=a, b=b), False, "direction")
        n, m = rng.sample(range(2, 500), 2)
        x, y = rng.choice(UNITS)
        yield (f"Convert {n} {x} to {y}", f"How many {y} is {n} {x}?", True, "paraphrase")
        yield (f"Convert {n} {x} to {y}", f"Convert {n} {y} to {x}", False, "direction")
        yield (f"Convert {n} {x} to {y}", f"Convert {m} {x} to {y}", False, "number")
        l1, l2 = rng.sample(LANGS, 2)
        yield (f"Translate 'good morning' into {l1}", f"How do you say 'good morning' in {l1}?", True, "paraphrase")
        yield (f"Translate 'good morning' into {l1}", f"Translate 'good morning' into {l2}", False, "language")
        yield (f"Translate 'good morning' into {l1}", f"Translate 'good night' into {l1}", False, "quoted")
        p, q = rng.choice(LANGS_CODE)
        yield (f"Is {p} faster than {q}?", f"Does {p} run faster than {q}?", True, "paraphrase")
        yield (f"Is {p} faster than {q}?", f"Is {q} faster than {p}?", False, "direction")
        item = rng.choice(ITEMS)
        yield (f"How do I return a {item} I bought online?", f"What is the process to return a {item} bought online?", True, "paraphrase")
        yield (f"How do I return a {item} I bought online?", f"How do I return a {item} I bought in store?", False, "qualifier")
        yield (f"Can I return a {item} after 30 days?", f"Can I not return a {item} after 30 days?", False, "negation")
        yield (f"Can I return a {item} after 30 days?", f"Can I return a {item} after 90 days?", False, "number")
        year_a, year_b = rng.sample(range(1990, 2026), 2)
        yield (f"Who won the World Cup in {year_a}?", f"Which country won the World Cup in {year_a}?", True, "paraphrase")
        yield (f"Who won the World Cup in {year_a}?", f"Who won the World Cup in {year_b}?", False, "number")


def main():
    out = sys.argv[1]
    rng = random.Random(20261127)
    seen = set()
    with open(out, "w") as f:
        for pair in contradish_pairs():
            f.write(json.dumps(pair) + "\n")
        for a, b, same, kind in team_pairs(rng):
            if (a, b) in seen:
                continue
            seen.add((a, b))
            f.write(json.dumps({"a": a, "b": b, "same": same, "source": "team", "kind": kind}) + "\n")


if __name__ == "__main__":
    main()
