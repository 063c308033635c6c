#!/usr/bin/env python3
"""Fine-tunes the cache verifier: a cross-encoder that reads two prompts
together ([CLS] a [SEP] b [SEP]) and says whether one answer serves both.

Starts from the first LAYERS layers of all-MiniLM-L6-v2 with a linear head
on [CLS]; trains on `make_pairs.py` output with a fixed seed on CPU; picks
nothing on the blind set. Writes `verifier.safetensors` (f16, the BERT names
plus `classifier.weight` / `classifier.bias`), `verifier.json` (its config)
and `verifier-tokenizer.json` into OUT_DIR, and prints scores on the development pairs
(held-out 1-3 of `tests/fixtures/cache_pairs.jsonl`).

Usage: train_verifier.py MODEL_DIR TRAIN.jsonl OUT_DIR [--layers N] [--epochs N]
"""

import argparse
import json
import math
import os
import random
import shutil
import time

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import BertConfig, BertModel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
MAX_TOKENS = 128


class CrossEncoder(torch.nn.Module):
    def __init__(self, bert):
        super().__init__()
        self.bert = bert
        self.classifier = torch.nn.Linear(bert.config.hidden_size, 1)

    def forward(self, ids, types, mask):
        out = self.bert(input_ids=ids, token_type_ids=types, attention_mask=mask).last_hidden_state
        return self.classifier(out[:, 0]).squeeze(-1)


def encode(tok, pairs):
    encs = tok.encode_batch([(a, b) for a, b in pairs])
    n = max(len(e.ids) for e in encs)
    ids = torch.zeros((len(encs), n), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for i, e in enumerate(encs):
        ids[i, : len(e.ids)] = torch.tensor(e.ids)
        types[i, : len(e.ids)] = torch.tensor(e.type_ids)
        mask[i, : len(e.ids)] = 1
    return ids, types, mask


def scores(model, tok, pairs, batch=64):
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(pairs), batch):
            out.extend(torch.sigmoid(model(*encode(tok, pairs[i : i + batch]))).tolist())
    return out


def report(name, labels, probs):
    pos = [p for p, y in zip(probs, labels) if y]
    neg = [p for p, y in zip(probs, labels) if not y]
    for t in (0.5, 0.7, 0.8, 0.9, 0.95, 0.98):
        rec = sum(p >= t for p in pos) / max(1, len(pos))
        fp = sum(p >= t for p in neg) / max(1, len(neg))
        print(f"  {name} t={t}: paraphrases {rec:.1%} of {len(pos)}, false {fp:.1%} of {len(neg)}")


REFERENCE_PAIRS = [
    ("How do I reset my password?", "How can I reset my password?"),
    ("How do I reset my password?", "How do I reset my router?"),
    ("What is the capital of Peru?", "peru capital city?"),
    ("Explain photosynthesis to a child.", "Explain photosynthesis to a chemist."),
    ("How do I sort a list in Python?", "python sort list how"),
    ("Write a poem about winter.", "Write an essay about winter."),
]


def write_reference(model, tok, path):
    """Scores of fixed pairs with the weights rounded to f16, as saved (the
    model is not used after this)."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.float16).to(torch.float32))
    probs = scores(model, tok, REFERENCE_PAIRS)
    with open(path, "w") as f:
        json.dump({"pairs": [{"query": a, "stored": b, "probability": p}
                             for (a, b), p in zip(REFERENCE_PAIRS, probs)]}, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("train")
    ap.add_argument("out_dir")
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--reference", default=os.path.join(ROOT, "tests", "fixtures", "verifier_reference.json"),
                    help="where to write scores the Rust verifier must reproduce")
    args = ap.parse_args()
    random.seed(7)
    torch.manual_seed(7)
    torch.set_num_threads(os.cpu_count() or 2)

    tok = Tokenizer.from_file(os.path.join(args.model_dir, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(MAX_TOKENS)
    config = BertConfig.from_pretrained(args.model_dir)
    config.num_hidden_layers = args.layers
    bert = BertModel.from_pretrained(args.model_dir, config=config, add_pooling_layer=False)
    model = CrossEncoder(bert)

    train = [json.loads(l) for l in open(args.train)]
    dev = [json.loads(l) for l in open(os.path.join(ROOT, "tests", "fixtures", "cache_pairs.jsonl"))]
    dev = [p for p in dev if p["source"].startswith("heldout")]
    steps = math.ceil(len(train) / args.batch) * args.epochs
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, s / max(1, steps // 10)) * max(0.0, (steps - s) / steps)
    )
    loss_fn = torch.nn.BCEWithLogitsLoss()
    step = 0
    started = time.time()
    for epoch in range(args.epochs):
        model.train()
        random.shuffle(train)
        # Batches of similar length pad less.
        chunks = [train[i : i + args.batch * 20] for i in range(0, len(train), args.batch * 20)]
        batches = []
        for c in chunks:
            c.sort(key=lambda p: len(p["a"]) + len(p["b"]))
            batches.extend(c[i : i + args.batch] for i in range(0, len(c), args.batch))
        random.shuffle(batches)
        total = 0.0
        for b in batches:
            logits = model(*encode(tok, [(p["a"], p["b"]) for p in b]))
            loss = loss_fn(logits, torch.tensor([float(p["same"]) for p in b]))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            step += 1
            total += loss.item()
            if step % 50 == 0:
                print(f"epoch {epoch} step {step}/{steps} loss {total / 50:.4f} {time.time() - started:.0f}s", flush=True)
                total = 0.0
        probs = scores(model, tok, [(p["a"], p["b"]) for p in dev])
        print(f"after epoch {epoch}:")
        report("dev (held-out 1-3)", [p["same"] for p in dev], probs)

    os.makedirs(args.out_dir, exist_ok=True)
    tensors = {k: v.detach().to(torch.float16).contiguous() for k, v in model.bert.state_dict().items()}
    tensors["classifier.weight"] = model.classifier.weight.detach().to(torch.float16).contiguous()
    tensors["classifier.bias"] = model.classifier.bias.detach().to(torch.float16).contiguous()
    save_file(tensors, os.path.join(args.out_dir, "verifier.safetensors"))
    config.to_json_file(os.path.join(args.out_dir, "verifier.json"))
    shutil.copy(os.path.join(args.model_dir, "tokenizer.json"), os.path.join(args.out_dir, "verifier-tokenizer.json"))
    write_reference(model, tok, args.reference)
    print(f"wrote {args.out_dir} in {time.time() - started:.0f}s")


if __name__ == "__main__":
    main()
