"""Hypothesis strategies for hostile requests to the operations of /api/schema/.

Schemathesis generates what JSON can carry; the 500s of issue 16 came from what a client can
write but json.dumps will not by default: NaN and Infinity, numbers too large for a float,
\\u0000 and lone surrogates in keys and values, nesting past the limit, NUL in the path, the
query and headers. Each request here is of the schema's shape, with one part (a parameter, a
body member, an extra key, the whole body) replaced by a hostile value of a fitting kind, or
none; ids are placeholders (`@held`, `@me`, ...) the test fills with the acting principal's
own ids or others', so that requests get past authentication and ownership to the rules, the
checks and the database.
"""

from __future__ import annotations

import json
from typing import Any

from drf_spectacular.generators import SchemaGenerator
from hypothesis import strategies as st

NAN, INF = float("nan"), float("inf")
HOSTILE_TEXT = [
    "\x00",
    "a\x00b",
    "\ud800",
    "x\udfff",
    "%00",
    "",
    " ",
    "x" * 5000,
    "' OR 1=1",
    "../../etc/passwd",
    "\u202e\U0001f600",
    "NaN",
    "null",
    "0",
]
HOSTILE_NUMBERS = [NAN, INF, -INF, 10**30, -(10**30), 2**63, 2**64, 1e308, -0.0, -1, 0, 1.5]
# JSON text json.dumps never writes, used as a member's value as it is.
NUMBER_FRAGMENTS = ["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "1" * 5000]
RAW_FRAGMENTS = [
    *NUMBER_FRAGMENTS,
    "[" * 40 + "]" * 40,
    "[" * 10_000 + "]" * 10_000,
    '{"a\\u0000": 1}',
    '"\\ud800"',
    '"\\u0000"',
]
# Keys an artifacts object is read for (intents/services.py, verification/checks/).
ARTIFACT_KEYS = [
    "deployment_url",
    "build_output",
    "spec_text",
    "test_results",
    "quality",
    "security",
    "files",
]
# Placeholders filled per example (tests/reliability/test_schemathesis.py), most often with
# the acting principal's own ids, so that a request is mostly one hostile value away from valid.
IDS = {
    "intent_id": ["@held"] * 6 + ["@mine", "@other", "int_missing"],
    "executor_id": ["@me"] * 6 + ["laptop-2", "nobody"],
    "phase": ["@phase"] * 6 + ["spec", "test", "production"],
}


class RawJson(str):
    """JSON text used as it is."""


def raw(value: Any) -> str:
    return value if isinstance(value, RawJson) else json.dumps(value, allow_nan=True)


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path template, operation with the schema's components) for each operation."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    found = []
    for path, methods in sorted(schema["paths"].items()):
        for method, operation in sorted(methods.items()):
            found.append((method.upper(), path, {**operation, "components": schema["components"]}))
    return found


def _resolve(node: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = components["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    if "allOf" in node:
        merged: dict[str, Any] = {}
        for part in node["allOf"]:
            merged.update(_resolve(part, components))
        return merged
    return node


def _anything() -> Any:
    leaf = st.one_of(
        st.sampled_from(HOSTILE_TEXT),
        st.sampled_from(HOSTILE_NUMBERS),
        st.text(max_size=20),
        st.floats(),
        st.integers(),
        st.booleans(),
        st.none(),
    )
    keys = st.one_of(st.sampled_from(HOSTILE_TEXT + ARTIFACT_KEYS), st.text(max_size=8))
    nested = st.recursive(
        leaf,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)
        ),
        max_leaves=6,
    )
    return st.one_of(nested, st.sampled_from(RAW_FRAGMENTS).map(RawJson))


def _hostile(node: dict[str, Any]) -> Any:
    """A hostile value, most often of the member's own kind (NaN for a number, NUL for text,
    hostile keys and values inside an object)."""
    kind = node.get("type")
    if kind in ("number", "integer"):
        fitting = st.one_of(
            st.sampled_from(NUMBER_FRAGMENTS).map(RawJson), st.sampled_from(HOSTILE_NUMBERS)
        )
    elif kind == "string":
        fitting = st.sampled_from(HOSTILE_TEXT)
    elif kind == "object" or not kind:
        keys = st.one_of(st.sampled_from(ARTIFACT_KEYS + HOSTILE_TEXT), st.text(max_size=8))
        fitting = st.dictionaries(keys, _anything(), min_size=1, max_size=3)
    else:
        fitting = _anything()
    return st.one_of(fitting, fitting, _anything())


def _like(name: str, node: dict[str, Any]) -> Any:
    """A value of the schema's shape, so that checks past validation are reached too."""
    if name in IDS:
        return st.sampled_from(IDS[name])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "integer":
        return st.integers(node.get("minimum", -5), node.get("maximum", 50))
    if kind == "number":
        return st.floats(node.get("minimum", -5), node.get("maximum", 50), allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "array":
        return st.lists(st.text(max_size=12), max_size=3)
    if kind == "object":
        return st.dictionaries(st.sampled_from(ARTIFACT_KEYS), st.text(max_size=12), max_size=3)
    return st.text(max_size=30)


def requests(operation: dict[str, Any]) -> Any:
    """A strategy of (path values, query, headers, body text or None) for one operation."""
    components = operation["components"]
    parameters = operation.get("parameters", [])
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    body_schema = _resolve(content["schema"], components) if content else {}
    properties = {n: _resolve(v, components) for n, v in body_schema.get("properties", {}).items()}
    required = set(body_schema.get("required", []))
    targets = [f"param:{p['name']}" for p in parameters]
    for name, node in properties.items():
        # Objects (artifacts, payloads) hold the most: NaN, NUL keys, over-long known fields.
        targets += [f"member:{name}"] * (3 if node.get("type") in ("object", None) else 1)
    targets += ["none", "none"] + (["extra", "whole"] if content else [])

    def text(value: Any) -> str:
        return value if isinstance(value, str) and not isinstance(value, RawJson) else raw(value)

    @st.composite
    def request(draw: Any) -> tuple[dict[str, str], dict[str, str], dict[str, str], Any]:
        target = draw(st.sampled_from(targets))
        places: dict[str, dict[str, str]] = {"path": {}, "query": {}, "header": {}}
        for parameter in parameters:
            name, where = parameter["name"], parameter["in"]
            node = _resolve(parameter.get("schema", {}), components)
            if target == f"param:{name}":
                places[where][name] = text(draw(_hostile(node)))
            elif where == "path" or parameter.get("required") or draw(st.booleans()):
                places[where][name] = text(draw(_like(name, node)))
        body = None
        if content:
            members = {}
            for name, node in properties.items():
                if target == f"member:{name}":
                    members[name] = draw(_hostile(node))
                elif name in required or draw(st.booleans()):
                    members[name] = draw(_like(name, node))
            if target == "extra":
                members[draw(st.sampled_from(HOSTILE_TEXT))] = draw(_anything())
            body = "{" + ", ".join(f"{json.dumps(k)}: {raw(v)}" for k, v in members.items())
            body += "}"
            if target == "whole":
                body = raw(draw(_anything()))
        return places["path"], places["query"], places["header"], body

    return request()
