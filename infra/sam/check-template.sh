#!/usr/bin/env bash
# Checks template.yaml offline: translates it with aws-sam-translator (as
# `sam deploy` would, local paths replaced by S3 placeholders) and lints the
# result with cfn-lint: once with the defaults, and once per deployment
# shape (each Endpoint, each CacheMode, IAM and API-key options). Any error
# fails. Installs both once into .tools/.
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
param() { printf '{"ParameterKey":"%s","ParameterValue":%s}' "$1" "$2"; }
VPC="$(param VpcId '"vpc-0123456789abcdef0"'),$(param SubnetIds '["subnet-0123456789abcdef0","subnet-0123456789abcdef1"]')"
SHAPES=(
  "$(param Endpoint '"function-url"'),$(param CacheMode '"off"'),$(param BedrockModels '["anthropic.claude-3-5-haiku-20241022-v1:0","us.anthropic.claude-3-5-haiku-20241022-v1:0","amazon.nova-lite-v1:0"]')"
  "$(param Endpoint '"rest-api"'),$(param CacheMode '"existing"'),$(param ExistingRedisUrl '"rediss://cache.example:6379"'),$(param RestApiKeys '"true"'),$(param RestQuotaPerDay '10000')"
  "$(param Endpoint '"both"'),$(param CacheMode '"create"'),$VPC,$(param SemanticCache '"true"'),$(param RestApiAuth '"AWS_IAM"'),$(param FunctionUrlAuth '"AWS_IAM"'),$(param ClientAuth '"iam"'),$(param RestAccessLogs '"false"')"
)
for shape in "${SHAPES[@]}"; do
  echo "[$shape]" > "$OUT/params.json"
  "$VENV/bin/cfn-lint" --regions us-east-1 --parameter-files "$OUT/params.json" -- "$OUT/template.json"
done
echo "template.yaml: translated and linted without errors (defaults and ${#SHAPES[@]} deployment shapes)"
