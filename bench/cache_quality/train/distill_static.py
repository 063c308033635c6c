#!/usr/bin/env python3
"""Distils the cache's static embedding table from all-MiniLM-L6-v2 with
model2vec (PCA to 256 dimensions, SIF weighting), then writes it in the
form the gateway reads: `static.safetensors` (tensor `embeddings`,
[vocab, 256], f16, rows already weighted) and `static-tokenizer.json`.

Usage: distill_static.py MODEL_DIR OUT_DIR
"""

import json
import os
import sys
import tempfile

import numpy as np
from model2vec.distill import distill
from safetensors.numpy import load_file, save_file


def main():
    model_dir, out_dir = sys.argv[1], sys.argv[2]
    model = distill(model_name=model_dir, pca_dims=256)
    with tempfile.TemporaryDirectory() as work:
        model.save_pretrained(work)
        tensors = load_file(os.path.join(work, "model.safetensors"))
        table = tensors["embeddings"].astype(np.float32)
        if "weights" in tensors:
            table = table * tensors["weights"].astype(np.float32)[:, None]
        config = json.load(open(os.path.join(work, "config.json")))
        if config.get("normalize") is False:
            print("note: model2vec config says normalize=false; the gateway normalises", file=sys.stderr)
        os.makedirs(out_dir, exist_ok=True)
        save_file({"embeddings": table.astype(np.float16)}, os.path.join(out_dir, "static.safetensors"))
        with open(os.path.join(work, "tokenizer.json")) as src, open(os.path.join(out_dir, "static-tokenizer.json"), "w") as dst:
            dst.write(src.read())
        print(f"table {table.shape}, tensors {sorted(tensors)}, config {config}")


if __name__ == "__main__":
    main()
