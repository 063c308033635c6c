"""Translates a SAM template to CloudFormation offline, as `sam deploy` would.

Usage: translate.py template.yaml out.json
"""

import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template names no managed policies; nothing to look up."""

    def load(self):
        return {}


def main() -> None:
    source, dest = sys.argv[1], sys.argv[2]
    with open(source) as f:
        template = yaml_parse(f.read())
    for resource in template["Resources"].values():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = "s3://placeholder-bucket/gateway.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = "s3://placeholder-bucket/model.zip"
    translated = transform(template, {"AWS::Region": "us-east-1"}, NoManagedPolicies())
    with open(dest, "w") as f:
        json.dump(translated, f, indent=1)


if __name__ == "__main__":
    main()
