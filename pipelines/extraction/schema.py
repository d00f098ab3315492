"""Extraction schemas: refuse hostile ones, then read the fields the caller wants.

A schema is untrusted input. :func:`validate_schema` refuses, with a located message,
anything that is not a sound draft 2020-12 schema or that could make us loop, recurse
without end, blow memory or make a network call: only local ``$ref`` ("#...") resolve,
through a ``referencing.Registry`` that has no retrieve hook.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import regex
from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import SchemaError, ValidationError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT202012

from pipelines.errors import InvalidRequest

MAX_SCHEMA_BYTES = 256 * 1024
MAX_FIELD_DEPTH = 8
"""Nesting of objects and arrays below the root object."""
MAX_JSON_DEPTH = 64
"""Raw nesting of the JSON document (guards the recursive checks themselves)."""
MAX_ENUM_VALUES = 1000
MAX_FIELDS = 500
ACCEPTED_DIALECTS = {
    "https://json-schema.org/draft/2020-12/schema",
    "https://json-schema.org/draft/2020-12/schema#",
}
_REF_KEYS = ("$ref", "$dynamicRef")
_PATTERN_TIMEOUT_S = 0.2


def _pointer(path: Any) -> str:
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in path]
    return "/" + "/".join(parts) if parts else ""


def _refuse(msg: str, loc: str = "") -> InvalidRequest:
    loc = loc or "/"
    return InvalidRequest(f"invalid schema at '{loc}': {msg}", errors=[{"loc": loc, "msg": msg}])


def _json_depth(node: Any, limit: int) -> int:
    """Nesting depth, iteratively (a hostile document must not exhaust the stack)."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return depth
        deepest = max(deepest, depth)
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
    return deepest


def _walk_json(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk_json(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk_json(value, path + (i,))


def _safe_pattern(validator, pattern, instance, schema):
    """``pattern`` with a time limit: a caller's regex must not hang the worker (ReDoS)."""
    if not validator.is_type(instance, "string"):
        return
    try:
        if not regex.search(pattern, instance, timeout=_PATTERN_TIMEOUT_S):
            yield ValidationError(f"{instance!r} does not match {pattern!r}")
    except TimeoutError:
        yield ValidationError(f"pattern {pattern!r} took too long to evaluate")
    except regex.error as exc:
        yield ValidationError(f"pattern {pattern!r} is not a valid regular expression: {exc}")


SafeValidator = validators.extend(Draft202012Validator, {"pattern": _safe_pattern})
"""Draft 2020-12 validator whose ``pattern`` keyword cannot hang."""


def _registry(schema: dict) -> tuple[Registry, str]:
    # No ``retrieve``: an unknown URI raises Unresolvable instead of being fetched.
    resource = Resource.from_contents(schema, default_specification=DRAFT202012)
    base = schema.get("$id", "") if isinstance(schema.get("$id"), str) else ""
    return Registry().with_resource(base, resource), base


def validate_schema(schema: Any) -> None:
    """Raise :class:`InvalidRequest` (with ``errors=[{"loc", "msg"}]``) for a schema we refuse.

    Accepted: a draft 2020-12 schema whose root is an object schema, at most 256 KB,
    object/array nesting at most 8, enums of at most 1000 values, only local ``$ref``
    and no ``$ref`` cycle. Never makes a network call.
    """
    if not isinstance(schema, dict):
        raise _refuse("the schema must be a JSON object", "/")
    try:
        size = len(json.dumps(schema, ensure_ascii=False).encode())
    except (TypeError, ValueError, RecursionError) as exc:
        raise _refuse(f"the schema is not serialisable JSON ({exc.__class__.__name__})", "/") from None
    if size > MAX_SCHEMA_BYTES:
        raise _refuse(f"the schema is {size} bytes; the limit is {MAX_SCHEMA_BYTES}", "/")
    if _json_depth(schema, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise _refuse(f"the schema nests deeper than {MAX_JSON_DEPTH} levels", "/")
    dialect = schema.get("$schema")
    if dialect is not None and dialect not in ACCEPTED_DIALECTS:
        raise _refuse(f"only JSON Schema draft 2020-12 is supported, not {dialect!r}", "/$schema")

    for path, node in _walk_json(schema):
        if not isinstance(node, dict):
            continue
        for key in _REF_KEYS:
            ref = node.get(key)
            if isinstance(ref, str) and not ref.startswith("#"):
                raise _refuse(f"only local references ('#...') are allowed, not {ref!r}", _pointer(path + (key,)))
        enum = node.get("enum")
        if isinstance(enum, list) and len(enum) > MAX_ENUM_VALUES and _is_keyword_position(path):
            raise _refuse(f"enum has {len(enum)} values; the limit is {MAX_ENUM_VALUES}", _pointer(path + ("enum",)))

    try:
        Draft202012Validator.check_schema(schema, format_checker=FormatChecker())
    except SchemaError as exc:
        raise _refuse(exc.message, _pointer(exc.absolute_path)) from None

    if schema.get("type", "object") != "object" and "properties" not in schema:
        raise _refuse("the root must be an object schema (type 'object' with properties)", "/type")
    # Reading the fields resolves every reachable $ref and measures nesting: this is
    # where loops and dangling references are found.
    read_fields(schema)


def _is_keyword_position(path: tuple) -> bool:
    # "enum" under "properties" is a property *named* enum, not the keyword.
    return not (path and path[-1] in ("properties", "$defs", "definitions", "patternProperties"))


@dataclass(frozen=True)
class FieldSpec:
    """One field the caller asks for, read from the schema.

    ``path`` is the property names from the root; array items add ``"*"``. Leaves have
    ``type`` in string/number/integer/boolean (``enum`` set for enumerations); ``object``
    fields have ``properties``; ``array`` fields have ``items``.
    """

    name: str
    path: tuple[str, ...]
    type: str
    format: str | None = None
    enum: tuple[Any, ...] | None = None
    description: str = ""
    title: str = ""
    examples: tuple[Any, ...] = ()
    nullable: bool = False
    required: bool = False
    properties: tuple[FieldSpec, ...] = ()
    items: FieldSpec | None = None
    max_items: int | None = None
    pattern: str | None = None

    @property
    def is_leaf(self) -> bool:
        return self.type not in ("object", "array")

    def leaves(self) -> Iterator[FieldSpec]:
        if self.type == "object":
            for p in self.properties:
                yield from p.leaves()
        elif self.type == "array" and self.items is not None:
            yield from self.items.leaves()
        else:
            yield self


_SCALARS = ("string", "number", "integer", "boolean")


class _Reader:
    def __init__(self, schema: dict):
        self.registry, _ = _registry(schema)
        self.count = 0

    def read(self, node: Any, resolver, *, name: str, path: tuple[str, ...], loc: tuple,
             depth: int, required: bool, refs: tuple[int, ...]) -> FieldSpec:
        if depth > MAX_FIELD_DEPTH:
            raise _refuse(f"objects and arrays nest deeper than {MAX_FIELD_DEPTH} levels", _pointer(loc))
        self.count += 1
        if self.count > MAX_FIELDS:
            raise _refuse(f"the schema has more than {MAX_FIELDS} fields", _pointer(loc))
        node, resolver, refs = self._deref(node, resolver, loc, refs)
        if node is True or not isinstance(node, dict):
            return FieldSpec(name=name, path=path, type="string", required=required)

        nullable = False
        variants = node.get("anyOf") or node.get("oneOf")
        merged = dict(node)
        if isinstance(variants, list) and variants:
            chosen = None
            for i, variant in enumerate(variants):
                v, _, _ = self._deref(variant, resolver, loc + ("anyOf", i), refs)
                if isinstance(v, dict) and v.get("type") == "null":
                    nullable = True
                elif chosen is None:
                    chosen = variant
            if chosen is not None:
                chosen, resolver, refs = self._deref(chosen, resolver, loc, refs)
                if isinstance(chosen, dict):
                    merged = {**chosen, **{k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}}
        for i, part in enumerate(node.get("allOf") or []):
            part, _, _ = self._deref(part, resolver, loc + ("allOf", i), refs)
            if isinstance(part, dict):
                props = {**part.get("properties", {}), **merged.get("properties", {})}
                merged = {**part, **merged, "properties": props} if props else {**part, **merged}

        types = merged.get("type")
        if isinstance(types, list):
            nullable = nullable or "null" in types
            types = [t for t in types if t != "null"]
            type_ = types[0] if types else "string"
        elif isinstance(types, str):
            type_ = types
        elif "properties" in merged:
            type_ = "object"
        elif "items" in merged:
            type_ = "array"
        else:
            type_ = "string"
        enum = merged.get("enum")
        if "const" in merged:
            enum = [merged["const"]]
        if isinstance(enum, list):
            nullable = nullable or None in enum
            enum = tuple(v for v in enum if v is not None)
            if type_ not in _SCALARS:
                type_ = "string"
        else:
            enum = None
        examples = merged.get("examples") or ([merged["example"]] if "example" in merged else [])
        fmt, pattern = merged.get("format"), merged.get("pattern")
        common = {
            "name": name, "path": path, "format": fmt if isinstance(fmt, str) else None, "enum": enum,
            "description": str(merged.get("description") or ""), "title": str(merged.get("title") or ""),
            "examples": tuple(examples) if isinstance(examples, list) else (), "nullable": nullable,
            "required": required, "pattern": pattern if isinstance(pattern, str) else None,
        }
        if type_ == "object":
            props = merged.get("properties") or {}
            req = set(merged.get("required") or [])
            children = tuple(
                self.read(sub, resolver, name=key, path=path + (key,), loc=loc + ("properties", key),
                          depth=depth + 1, required=key in req, refs=refs)
                for key, sub in props.items()
            )
            return FieldSpec(type="object", properties=children, **common)
        if type_ == "array":
            items = merged.get("items", {})
            item = self.read(items, resolver, name=name, path=path + ("*",), loc=loc + ("items",),
                             depth=depth + 1, required=False, refs=refs)
            max_items = merged.get("maxItems") if isinstance(merged.get("maxItems"), int) else None
            return FieldSpec(type="array", items=item, max_items=max_items, **common)
        if type_ not in _SCALARS:
            type_ = "string"
        return FieldSpec(type=type_, **common)

    def _deref(self, node: Any, resolver, loc: tuple, refs: tuple[int, ...]):
        hops = 0
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            hops += 1
            if hops > 50:
                raise _refuse("too many chained $ref", _pointer(loc))
            try:
                resolved = resolver.lookup(ref)
            except (Unresolvable, ValueError, KeyError, TypeError, IndexError) as exc:
                msg = f"$ref {ref!r} cannot be resolved locally ({exc.__class__.__name__})"
                raise _refuse(msg, _pointer(loc + ("$ref",))) from None
            target = resolved.contents
            # The same target twice on one path is a loop (or a recursive schema, which
            # has no finite set of fields to extract).
            if id(target) in refs:
                raise _refuse(f"$ref {ref!r} refers back to itself (a loop or a recursive schema)", _pointer(loc + ("$ref",)))
            refs = refs + (id(target),)
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            node = {**target, **siblings} if isinstance(target, dict) and siblings else target
            resolver = resolved.resolver
        return node, resolver, refs


def read_fields(schema: dict) -> FieldSpec:
    """The root object's :class:`FieldSpec` tree, ``$ref`` resolved (locally only)."""
    reader = _Reader(schema)
    resolver = reader.registry.resolver(base_uri=_registry(schema)[1])
    return reader.read(schema, resolver, name="", path=(), loc=(), depth=0, required=True, refs=())


def validate_instance(schema: dict, instance: Any) -> list[dict]:
    """Every violation of ``schema`` by ``instance``, as ``{"loc": pointer, "msg": ...}``."""
    registry, _ = _registry(schema)
    validator = SafeValidator(schema, registry=registry, format_checker=FormatChecker())
    errors = []
    try:
        for err in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
            errors.append({"loc": _pointer(err.absolute_path) or "/", "msg": err.message})
    except (Unresolvable, RecursionError) as exc:
        errors.append({"loc": "/", "msg": f"schema could not be applied: {exc.__class__.__name__}"})
    return errors
