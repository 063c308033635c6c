#!/usr/bin/env python3
"""Builds the verifier's training pairs (JSON lines {"a", "b", "same"}) with a fixed seed.

Sources, none of them an evaluation set that is not trained on (held-out
7 and 8: `check_overlap.py` refuses training groups that come close to them):
- `seeds.jsonl`, and held-out 4-6 (`../heldout4.jsonl` … `../heldout6.jsonl`):
  hand-written questions, each with paraphrases and hard negatives that read
  almost the same but need another answer;
- the team's templated pairs (`tests/fixtures/cache_pairs.jsonl`, source "team").

Each source pair is multiplied by answer-preserving rewrites (case,
punctuation, typos, telegraphic and casual forms, other question frames,
abbreviations) applied to either side, so that surface form never decides;
and answer-changing edits (another number, entity, operation, direction or
qualifier) are generated from every question, so that small edits always do.

Usage: make_pairs.py OUT.jsonl
"""

import functools
import json
import os
import random
import re
import subprocess
import sys

import check_overlap

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

FRAMES = [
    ("how do i ", ["how can i ", "how to ", "what's the way to ", "what is the best way to ", "show me how to ",
                   "what are the steps to ", "i want to know how to ", "can you tell me how to ", "how would i ",
                   "how should i ", "explain how to ", "help me "]),
    ("what is ", ["what's ", "whats ", "tell me ", "can you tell me ", "do you know ", "i'd like to know ",
                  "explain ", "please tell me "]),
    ("what are ", ["what're ", "list ", "tell me ", "can you list ", "name "]),
    ("why do ", ["why does it happen that ", "what is the reason ", "how come "]),
]
PREFIXES = ["", "", "", "quick question: ", "hey, ", "hi! ", "q: ", "ok so ", "please, ", "um ", "hello, "]
SUFFIXES = ["", "", "", "?", " pls", " please", " thanks", " thx", "??", " (asking for a friend)", " - any ideas?"]
ABBREV = {
    "javascript": "js", "python": "py", "kubernetes": "k8s", "database": "db", "postgresql": "postgres",
    "versus": "vs", "without": "w/o", "with": "w/", "please": "pls", "you": "u", "configuration": "config",
    "directory": "dir", "repository": "repo", "application": "app", "typescript": "ts", "minutes": "mins",
    "information": "info", "because": "bc", "example": "e.g.", "documentation": "docs", "environment": "env",
    "variable": "var", "message": "msg", "number": "num", "second": "sec", "function": "func",
}
STOP = {"how", "do", "i", "the", "a", "an", "is", "are", "what", "to", "of", "can", "does", "my", "in", "for", "me",
        "you", "your", "should", "would", "there", "it"}

# Sets whose members are interchangeable in form but not in answer.
SIBLINGS = [
    "python java javascript rust go ruby php kotlin swift typescript c++ c# scala haskell perl".split(),
    "linux windows macos ubuntu android ios debian freebsd".split(),
    "mysql postgresql sqlite mongodb redis oracle cassandra dynamodb".split(),
    "paris london tokyo berlin madrid rome sydney toronto chicago cairo mumbai seoul".split(),
    "france germany japan italy spain canada brazil india china mexico egypt kenya norway".split(),
    "dog cat rabbit hamster parrot horse goldfish snake turtle".split(),
    "apple banana orange mango grape pear peach strawberry".split(),
    "chicken beef pork salmon tofu lamb shrimp turkey".split(),
    "monday tuesday wednesday thursday friday saturday sunday".split(),
    "january february march april may june july august september october november december".split(),
    "red blue green yellow purple orange black white".split(),
    "english spanish french german italian japanese chinese korean russian arabic portuguese".split(),
    "meters feet inches miles kilometers yards centimeters".split(),
    "grams ounces pounds kilograms milligrams tons".split(),
    "liters gallons cups pints quarts milliliters tablespoons teaspoons".split(),
    "celsius fahrenheit kelvin".split(),
    "seconds minutes hours days weeks months years".split(),
    "toddlers teenagers adults seniors babies dogs cats".split(),
    "breakfast lunch dinner".split(),
    "piano guitar violin drums flute".split(),
    "soccer basketball tennis baseball golf cricket rugby hockey".split(),
    "mercury venus earth mars jupiter saturn uranus neptune".split(),
    "iphone ipad android laptop desktop tablet".split(),
    "chrome firefox safari edge opera".split(),
    "aws azure gcp".split(),
    "csv json xml yaml toml excel pdf".split(),
    "list tuple set dictionary array string integer float".split(),
    "docker podman vagrant".split(),
    "git svn mercurial".split(),
    "npm yarn pip cargo maven gradle".split(),
    "react vue angular svelte".split(),
    "fastest slowest cheapest safest easiest".split(),
    "first second third last".split(),
    "largest smallest tallest shortest oldest newest longest".split(),
    "why when where how who".split(),
]
OPPOSITES = [
    ("install", "uninstall"), ("add", "remove"), ("open", "close"), ("enable", "disable"), ("start", "stop"),
    ("upload", "download"), ("encrypt", "decrypt"), ("increase", "decrease"), ("buy", "sell"),
    ("maximum", "minimum"), ("max", "min"), ("ascending", "descending"), ("before", "after"), ("import", "export"),
    ("push", "pull"), ("show", "hide"), ("lock", "unlock"), ("compress", "decompress"), ("hot", "cold"),
    ("soft", "hard"), ("fast", "slow"), ("left", "right"), ("up", "down"), ("create", "delete"),
    ("block", "unblock"), ("mute", "unmute"), ("zip", "unzip"), ("merge", "split"), ("join", "split"),
    ("gain", "lose"), ("borrow", "lend"), ("send", "receive"), ("win", "lose"), ("start", "end"),
    ("best", "worst"), ("cheap", "expensive"), ("safe", "dangerous"), ("rise", "fall"), ("read", "write"),
    ("square", "cube"), ("sum", "product"), ("plus", "minus"), ("+", "-"), ("times", "divided by"),
    ("pros", "cons"), ("benefits", "risks"), ("causes", "effects"), ("more", "less"), ("always", "never"),
    ("can", "can't"), ("is", "isn't"), ("should", "shouldn't"), ("inside", "outside"), ("indoors", "outdoors"),
    ("local", "remote"), ("public", "private"), ("old", "new"), ("long", "short"), ("raw", "cooked"),
    ("learn", "teach"), ("lend", "borrow"), ("give", "receive"), ("parent", "child"), ("student", "teacher"),
    ("employer", "employee"), ("doctor", "patient"), ("sender", "recipient"), ("warm", "cold"), ("hot", "cool"),
    ("high", "low"), ("good", "bad"), ("strong", "weak"), ("tight", "loose"), ("tighten", "loosen"),
    ("freeze", "thaw"), ("advantages", "disadvantages"), ("big", "small"), ("heavy", "light"), ("early", "late"),
    ("host", "guest"), ("landlord", "tenant"), ("buyer", "seller"), ("client", "server"), ("input", "output"),
]
# Rewordings that keep the answer: one word for another in its common sense.
SYNONYMS = [
    ("change", "update"), ("change", "modify"), ("remove", "delete"), ("fix", "repair"), ("find", "locate"),
    ("start", "begin"), ("make", "create"), ("show", "display"), ("stop", "quit"), ("reduce", "lower"),
    ("boost", "strengthen"), ("calm down", "relax"), ("get", "obtain"), ("use", "utilize"), ("buy", "purchase"),
    ("help", "assist"), ("big", "large"), ("small", "little"), ("fast", "quick"), ("quickly", "fast"),
    ("picture", "photo"), ("car", "vehicle"), ("kill", "terminate"), ("combine", "merge"), ("see", "view"),
    ("check", "verify"), ("set up", "configure"), ("turn on", "enable"), ("turn off", "disable"),
    ("contact", "reach"), ("cancel", "stop"), ("answer", "reply"), ("cause", "trigger"), ("enough", "sufficient"),
    ("autumn", "fall"), ("colour", "color"), ("holiday", "vacation"), ("movie", "film"), ("mistake", "error"),
    ("rename", "change the name of"), ("dict", "dictionary"), ("array", "list"), ("in", "inside"),
    ("what causes", "why does"), ("how many people live in", "what is the population of"),
    ("where can i", "how do i"), ("put on hold", "pause"), ("get rid of", "remove"), ("come down", "fall"),
    ("keep from dying", "keep alive"), ("money back", "refund"), ("summary", "summarize"),
    ("clear", "empty"), ("erase", "delete"), ("length", "size"), ("length", "number of items"),
    ("fix", "solve"), ("find out", "check"), ("stop", "halt"), ("improve", "get better at"),
    ("tips", "advice"), ("ways", "methods"), ("kids", "children"), ("mom", "mother"), ("dad", "father"),
    ("phone", "smartphone"), ("laptop", "notebook"), ("sofa", "couch"), ("fridge", "refrigerator"),
    ("trash", "garbage"), ("quick", "fast"), ("simple", "easy"), ("explain", "describe"),
]
NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
                "twenty"]
QUALIFIERS = [
    " in toddlers", " for a specific branch", " on Windows", " on a Mac", " without sudo", " recursively",
    " in production", " at night", " in winter", " for beginners", " for experts", " in 2010", " in Python 2",
    " while pregnant", " for a large dataset", " without internet access", " in descending order",
    " by date", " for free", " in under 5 minutes", " for a family of four", " on a budget", " in the UK",
    " for a dog", " after surgery", " with a broken arm", " in a Docker container", " on a phone",
    " without losing data", " for an existing table", " only for one file", " in the background",
    " from the command line", " in a loop", " with no root access", " at high altitude", " for kids",
]



@functools.lru_cache(maxsize=None)
def compiled(pattern):
    """A compiled pattern, kept: the thousands of word patterns would thrash `re`'s small cache."""
    return re.compile(pattern)


def search(pattern, text):
    return compiled(pattern).search(text)


def sub(pattern, repl, text, count=0):
    return compiled(pattern).sub(repl, text, count=count)


def finditer(pattern, text):
    return compiled(pattern).finditer(text)


def findall(pattern, text):
    return compiled(pattern).findall(text)


def words(text):
    return text.split(" ")


def case_punct(rng, t):
    t = t.lower() if rng.random() < 0.7 else t
    if rng.random() < 0.7:
        t = t.rstrip("?.!")
    return t


def typo(rng, t):
    ws = words(t)
    idx = [i for i, w in enumerate(ws) if len(w) > 3 and w.isalpha()]
    if not idx:
        return t
    i = rng.choice(idx)
    w = ws[i]
    j = rng.randrange(1, len(w) - 1)
    op = rng.random()
    if op < 0.33:
        w = w[:j] + w[j + 1:]
    elif op < 0.66:
        w = w[:j - 1] + w[j] + w[j - 1] + w[j + 1:]
    else:
        w = w[:j] + w[j] + w[j:]
    ws[i] = w
    return " ".join(ws)


def telegraphic(rng, t):
    ws = [w for w in sub(r"[?.!]", "", t.lower()).split() if w not in STOP]
    if not ws:
        return t
    if rng.random() < 0.3:
        ws.append(rng.choice(["how", "?", "how?", "help"]))
    return " ".join(ws)


def frame(rng, t):
    low = t.lower()
    for head, alts in FRAMES:
        if low.startswith(head):
            rest = t[len(head):]
            return rng.choice(alts) + rest
    return t


def filler(rng, t):
    return rng.choice(PREFIXES) + t + rng.choice(SUFFIXES)


def abbreviate(rng, t):
    ws = words(t)
    hits = [i for i, w in enumerate(ws) if w.lower().strip("?.,!") in ABBREV]
    if not hits:
        return t
    i = rng.choice(hits)
    core = ws[i].lower().strip("?.,!")
    ws[i] = ws[i].lower().replace(core, ABBREV[core])
    return " ".join(ws)


def replace_one(rng, t, pairs, words_only=False):
    """t with one word of `pairs` (either side, as a whole word) replaced by
    its partner, chosen at random; None when none occurs."""
    options = []
    for a, b in pairs:
        for x, y in ((a, b), (b, a)):
            if words_only and not x[0].isalnum():
                continue
            pat = r"(?i)(?<![\w+#])" + re.escape(x) + r"(?![\w+#])"
            if search(pat, t):
                options.append((pat, y))
    if not options:
        return None
    pat, y = rng.choice(options)
    return sub(pat, y, t, count=1)


def synonym(rng, t):
    return replace_one(rng, t, SYNONYMS) or t


def number_words(rng, t):
    """A small number written out in words, or a number word in digits."""
    options = []
    for m in finditer(r"(?<![\w.])(\d{1,2})(?![\w.])", t):
        if int(m.group(1)) < len(NUMBER_WORDS):
            options.append((m.start(), m.end(), NUMBER_WORDS[int(m.group(1))]))
    for i, w in enumerate(NUMBER_WORDS):
        for m in finditer(r"(?i)\b" + w + r"\b", t):
            options.append((m.start(), m.end(), str(i)))
    if not options:
        return t
    start, end, repl = rng.choice(options)
    return t[:start] + repl + t[end:]


POSITIVE = [case_punct, typo, telegraphic, frame, filler, abbreviate, synonym, synonym, number_words]


def rewrite(rng, t):
    """An answer-preserving rewrite of t (one or two steps)."""
    for _ in range(rng.choice([1, 1, 2])):
        t = rng.choice(POSITIVE)(rng, t)
    return t


def tokens(t):
    return findall(r"[A-Za-z+#]+|\d+(?:\.\d+)?|[^\sA-Za-z\d]", t)


def swap_sibling(rng, t):
    low = t.lower()
    options = []
    for group in SIBLINGS:
        for w in group:
            if search(r"(?<![\w+#])" + re.escape(w) + r"(?![\w+#])", low):
                options.append((w, [x for x in group if x != w]))
    if not options:
        return None
    w, others = rng.choice(options)
    return sub(r"(?i)(?<![\w+#])" + re.escape(w) + r"(?![\w+#])", rng.choice(others), t, count=1)


def swap_opposite(rng, t):
    options = []
    for a, b in OPPOSITES:
        for x, y in ((a, b), (b, a)):
            pat = r"(?i)(?<![\w+#])" + re.escape(x) + r"(?![\w+#])" if x[0].isalnum() else re.escape(" " + x + " ")
            if search(pat, t):
                options.append((pat, y if x[0].isalnum() else " " + y + " "))
    if not options:
        return None
    pat, y = rng.choice(options)
    return sub(pat, y, t, count=1)


def change_number(rng, t):
    nums = findall(r"\d+", t)
    if not nums:
        return None
    n = rng.choice(nums)
    m = str(int(n) + rng.choice([-2, -1, 1, 2, 3, 10, 100])) if int(n) > 2 else str(int(n) + rng.randint(1, 9))
    return t.replace(n, m, 1)


def swap_direction(rng, t):
    m = search(r"(?i)\bfrom (?:my |the |a )?([\w.-]+(?: [\w.-]+)?) to (?:my |the |a )?([\w.-]+(?: [\w.-]+)?)", t)
    if m:
        a, b = m.group(1), m.group(2)
        return t[:m.start(1)] + b + t[m.end(1):m.start(2)] + a + t[m.end(2):]
    m = search(r"(?i)\b(\w+) to (\w+)\b", t)
    if m and any(m.group(1).lower() in g and m.group(2).lower() in g for g in SIBLINGS):
        return t[:m.start(1)] + m.group(2) + " to " + m.group(1) + t[m.end(2):]
    m = search(r"(?i)how many (\w+) (?:are )?in an? (\w+)", t)
    if m:
        a, b = m.group(1), m.group(2)
        return t[:m.start(1)] + b + "s" + t[m.end(1):m.start(2)] + a.rstrip("s") + t[m.end(2):]
    return None


def load_antonyms():
    pairs = []
    for line in open(os.path.join(HERE, "antonyms.txt")):
        if line.strip() and not line.startswith("#"):
            a, b = line.split()
            pairs.append((a, b))
    return pairs


ANTONYMS = OPPOSITES + load_antonyms()


def swap_antonym(rng, t):
    return replace_one(rng, t, ANTONYMS, words_only=True)


def swap_comparison(rng, t):
    """'Is A faster than B' -> 'Is B faster than A': another question."""
    m = search(r"(?i)\b(\w+) (\w+er|more \w+|less \w+) than (\w+)", t)
    if not m:
        return None
    return t[:m.start(1)] + m.group(3) + " " + m.group(2) + " than " + m.group(1) + t[m.end(3):]


def swap_symmetric(rng, t):
    """'A or B', 'A vs B', 'between A and B' read either way: same question."""
    m = search(r"(?i)\b(between |difference between )?([\w.+#-]+) (or|vs\.?|versus|and) ([\w.+#-]+)", t)
    if not m or (m.group(3).lower() == "and" and not m.group(1)):
        return None
    return t[:m.start(2)] + m.group(4) + " " + m.group(3) + " " + m.group(2) + t[m.end(4):]


def qualify(rng, t):
    core = t.rstrip("?.! ")
    end = t[len(core):]
    return core + rng.choice(QUALIFIERS) + end


NEGATIVE = [swap_sibling, swap_opposite, swap_antonym, swap_antonym, change_number, swap_direction,
            swap_direction, swap_comparison, qualify]


def hard_negative(rng, t):
    """An edit of t that needs a different answer, or None."""
    fns = NEGATIVE[:]
    rng.shuffle(fns)
    for fn in fns:
        out = fn(rng, t)
        if out and out.lower().strip() != t.lower().strip():
            return out
    return None


def main():
    out = sys.argv[1]
    subprocess.run([sys.executable, os.path.join(HERE, "check_overlap.py")], check=True)
    rng = random.Random(20261130)
    groups = [json.loads(l) for path in check_overlap.TRAINED for l in open(path) if l.strip()]
    pairs = []

    def add(a, b, same):
        if a.strip().lower() == b.strip().lower() and not same:
            return
        pairs.append((a, b, same) if rng.random() < 0.5 else (b, a, same))

    questions = []
    for g in groups:
        anchors = [g["q"]] + g["same"]
        questions.extend(anchors)
        for i, x in enumerate(anchors):
            for y in anchors[i + 1:]:
                add(x, y, True)
                for _ in range(3):
                    add(rewrite(rng, x), rewrite(rng, y), True)
            for d in g["different"]:
                add(x, d, False)
                for _ in range(2):
                    add(rewrite(rng, x), rewrite(rng, d), False)
    team = [json.loads(l) for l in open(os.path.join(ROOT, "tests", "fixtures", "cache_pairs.jsonl"))]
    for p in team:
        if p["source"] != "team":
            continue
        questions.extend([p["a"], p["b"]])
        add(p["a"], p["b"], p["same"])
        for _ in range(3):
            add(rewrite(rng, p["a"]), rewrite(rng, p["b"]), p["same"])
    questions = sorted(set(questions))
    for q in questions:
        for _ in range(3):
            add(q, rewrite(rng, q), True)
        sym = swap_symmetric(rng, q)
        if sym:
            add(q, sym, True)
            add(rewrite(rng, q), sym, True)
        for _ in range(5):
            neg = hard_negative(rng, q)
            if neg:
                add(rewrite(rng, q) if rng.random() < 0.5 else q, rewrite(rng, neg) if rng.random() < 0.5 else neg, False)
        other = rng.choice(questions)
        if other != q:
            add(q, other, False)
    rng.shuffle(pairs)
    seen = set()
    with open(out, "w") as f:
        for a, b, same in pairs:
            if (a, b) in seen:
                continue
            seen.add((a, b))
            f.write(json.dumps({"a": a, "b": b, "same": same}) + "\n")
    print(f"{len(seen)} pairs, {sum(1 for p in pairs if p[2])} positive", file=sys.stderr)


if __name__ == "__main__":
    main()
