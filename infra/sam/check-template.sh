#!/usr/bin/env bash
# Checks template.yaml offline: translates it with aws-sam-translator (as
# `sam deploy` would, local paths replaced by S3 placeholders) and lints the
# result with cfn-lint. Any error fails. Installs both once into .tools/.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOOLS=${GATEWAY_TOOLS_DIR:-$ROOT/.tools}
VENV=$TOOLS/sam-venv
mkdir -p "$TOOLS"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import samtranslator, cfnlint' 2>/dev/null \
  || "$VENV/bin/pip" install --quiet --disable-pip-version-check cfn-lint==1.58.0 aws-sam-translator==1.115.0
OUT=$(mktemp -d)
AWS_DEFAULT_REGION=us-east-1 "$VENV/bin/python" "$ROOT/infra/sam/translate.py" "$ROOT/template.yaml" "$OUT/template.json"
"$VENV/bin/cfn-lint" --regions us-east-1 -- "$OUT/template.json"
echo "template.yaml: translated and linted without errors"
