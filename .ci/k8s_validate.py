"""Validate rendered Kubernetes manifests offline: built-in kinds against the Kubernetes
schemas that kubernetes-validate ships (strict: unknown fields fail), for each version
named; custom resources against our schemas in .ci/k8s-schemas/. Any other kind fails.

Usage: python .ci/k8s_validate.py --kubernetes-version 1.30.0 ... FILE.yaml ..."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jsonschema
import kubernetes_validate
import yaml

SCHEMAS = Path(__file__).resolve().parent / "k8s-schemas"


def crd_schema(doc: dict) -> dict | None:
    group_version = doc["apiVersion"].replace("/", "_")
    path = SCHEMAS / f"{group_version}_{doc['kind']}.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else None


def validate(doc: dict, versions: list[str]) -> list[str]:
    name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    schema = crd_schema(doc)
    if schema is not None:
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=str)
        return [f"{name}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    problems = []
    for version in versions:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            return [
                f"{name}: no schema for {doc['apiVersion']} {doc['kind']} (add one to "
                f"{SCHEMAS.name}/ if it is a custom resource)"
            ]
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(map(str, exc.absolute_path))
            problems.append(f"{name} (Kubernetes {version}): {path}: {exc.message}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubernetes-version", action="append", required=True)
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    failed = 0
    for path in args.files:
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
        problems = [p for doc in docs for p in validate(doc, args.kubernetes_version)]
        for problem in problems:
            print(f"FAIL {path.name}: {problem}")
        failed += len(problems)
        print(f"{path.name}: {len(docs)} objects, {len(problems)} problems")
    return 1 if failed or not args.files else 0


if __name__ == "__main__":
    sys.exit(main())
