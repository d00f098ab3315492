"""Schemas are untrusted: every hostile or malformed one is an InvalidRequest saying where."""

import socket

import pytest

from pipelines.errors import InvalidRequest
from pipelines.extraction.schema import read_fields, validate_instance, validate_schema


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any connection attempt fails the test: schema checks must never fetch."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def _nested(depth: int) -> dict:
    schema = {"type": "object", "properties": {}}
    node = schema
    for _ in range(depth):
        child = {"type": "object", "properties": {}}
        node["properties"]["a"] = child
        node = child
    return schema


def _deep_json(depth: int) -> dict:
    node: dict = {"type": "string"}
    for _ in range(depth):
        node = {"allOf": [node]}
    return {"type": "object", "properties": {"a": node}}


OK = {"type": "object", "properties": {"a": {"type": "string"}}}

HOSTILE = [
    # (case, schema, where the error is reported)
    ("not an object", ["type", "object"], "/"),
    ("a string", "object", "/"),
    ("unknown type", {"type": "object", "properties": {"a": {"type": "strng"}}}, "/properties/a/type"),
    ("properties not an object", {"type": "object", "properties": []}, "/properties"),
    ("remote $ref", {"type": "object", "properties": {"a": {"$ref": "https://example.org/s.json"}}}, "/properties/a/$ref"),
    ("relative file $ref", {"type": "object", "properties": {"a": {"$ref": "other.json#/x"}}}, "/properties/a/$ref"),
    ("remote $dynamicRef", {"type": "object", "properties": {"a": {"$dynamicRef": "http://x/y"}}}, "/properties/a/$dynamicRef"),
    ("$ref loop", {"type": "object", "properties": {"a": {"$ref": "#/$defs/x"}},
                   "$defs": {"x": {"$ref": "#/$defs/y"}, "y": {"$ref": "#/$defs/x"}}}, "/properties/a/$ref"),
    ("self $ref", {"type": "object", "properties": {"a": {"$ref": "#/$defs/x"}}, "$defs": {"x": {"$ref": "#/$defs/x"}}}, "/properties/a/$ref"),
    ("recursive schema", {"type": "object", "properties": {"child": {"$ref": "#"}}}, "/properties/child/properties/child/$ref"),
    ("dangling $ref", {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}, "/properties/a/$ref"),
    ("nesting deeper than 8", _nested(12), None),
    ("JSON nested 200 deep", _deep_json(200), "/"),
    ("enum of 5000 values", {"type": "object", "properties": {"a": {"enum": list(range(5000))}}}, "/properties/a/enum"),
    ("over 256 KB", {"type": "object", "properties": {f"f{i}": {"type": "string", "description": "x" * 400} for i in range(800)}}, "/"),
    ("too many fields", {"type": "object", "properties": {f"f{i}": {"type": "string"} for i in range(600)}}, None),
    ("older dialect", {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"}, "/$schema"),
    ("root is a string schema", {"type": "string"}, "/type"),
    ("invalid regex pattern", {"type": "object", "properties": {"a": {"type": "string", "pattern": "(("}}}, "/properties/a/pattern"),
    ("negative maxItems", {"type": "object", "properties": {"a": {"type": "array", "maxItems": -1}}}, "/properties/a/maxItems"),
]


@pytest.mark.parametrize(("case", "schema", "loc"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_schemas_are_refused_with_a_location(case, schema, loc):
    with pytest.raises(InvalidRequest) as info:
        validate_schema(schema)
    assert info.value.errors, "a refusal says where and why"
    assert {"loc", "msg"} <= set(info.value.errors[0])
    if loc is not None:
        assert info.value.errors[0]["loc"] == loc
    assert "invalid schema" in str(info.value)


@pytest.mark.parametrize(
    "schema",
    [
        OK,
        {"$schema": "https://json-schema.org/draft/2020-12/schema", **OK},
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/amount"}, "b": {"$ref": "#/$defs/amount"}},
         "$defs": {"amount": {"type": "number"}}},
        {"type": "object", "properties": {"enum": {"type": "string"}}},  # a property named "enum"
        {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object",
                                                                            "properties": {"qty": {"type": "integer"}}}}}},
        {"type": "object", "properties": {"a": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}}},
        _nested(7),
    ],
)
def test_sound_schemas_pass(schema):
    validate_schema(schema)


def test_read_fields_resolves_local_refs_and_nullability():
    schema = {
        "type": "object",
        "required": ["policy"],
        "properties": {
            "policy": {"$ref": "#/$defs/ref", "description": "Policy number"},
            "date": {"type": ["string", "null"], "format": "date"},
            "parties": {"type": "array", "items": {"type": "string"}},
            "status": {"enum": ["open", "closed", None]},
        },
        "$defs": {"ref": {"type": "string", "examples": ["AB-123"]}},
    }
    root = read_fields(schema)
    fields = {f.name: f for f in root.properties}
    assert fields["policy"].type == "string" and fields["policy"].required
    assert fields["policy"].examples == ("AB-123",) and fields["policy"].description == "Policy number"
    assert fields["date"].nullable and fields["date"].format == "date"
    assert fields["parties"].type == "array" and fields["parties"].items.type == "string"
    assert fields["status"].enum == ("open", "closed") and fields["status"].nullable


@pytest.mark.parametrize(
    ("instance", "locs"),
    [
        ({"a": "x", "n": 3}, []),
        ({"a": 5, "n": 3}, ["/a"]),
        ({"a": "x", "n": "three"}, ["/n"]),
        ({"n": 3}, ["/"]),  # a missing required field is reported on its parent
        ({"a": "x", "n": 3, "d": "14/03/2025"}, ["/d"]),  # format: date is checked
    ],
)
def test_validate_instance_reports_pointers(instance, locs):
    schema = {"type": "object", "required": ["a"], "properties": {
        "a": {"type": "string"}, "n": {"type": "integer"}, "d": {"type": "string", "format": "date"}}}
    assert [e["loc"] for e in validate_instance(schema, instance)] == locs


def test_catastrophic_pattern_cannot_hang_validation():
    schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(a+)+$"}}}
    validate_schema(schema)
    errors = validate_instance(schema, {"a": "a" * 40 + "!"})
    assert errors and errors[0]["loc"] == "/a"
