"""Version fingerprints of the pseudonymisation: what a document's stored pages were
pseudonymised with, so that a re-index knows when to pseudonymise it again.

A version is derived, never hand-bumped: a digest of everything that decides which
spans are detected and what replaces them (the recogniser pack as data, the detection
and operator code, the NER models' names and versions, Presidio's version, the first
name lexicon, the thresholds). Any change to those changes the version. A change that
does not alter detections (a comment) also changes it: the cost is one needless
re-pseudonymisation at the next re-index, never a missed recogniser change.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent

DETECTION_MODULES = ("detector.py", "recognisers.py", "fr_pack.py", "validators.py", "normalise.py",
                     "entities.py", "first_names.py")
"""Sources of the detector: the French pack is data in ``fr_pack``."""
OPERATOR_MODULES = ("anonymiser.py", "page.py")
"""Sources that turn detections into the stored text (token format, offset maps)."""


@cache
def source_fingerprint(names: tuple[str, ...]) -> str:
    """sha256 over the named modules of this package (line endings normalised)."""
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + b"\0")
        digest.update((_HERE / name).read_bytes().replace(b"\r\n", b"\n") + b"\0")
    return digest.hexdigest()


def package_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def fingerprint(prefix: str, parts: dict[str, Any]) -> str:
    """``prefix-<16 hex>`` over ``parts`` (JSON, sorted keys): stable across processes."""
    blob = json.dumps(parts, sort_keys=True, default=sorted, ensure_ascii=False).encode()
    return f"{prefix}-{hashlib.sha256(blob).hexdigest()[:16]}"


def nlp_models(nlp_engine) -> dict[str, str]:
    """``{language: "name==version"}`` of a Presidio spaCy engine's pipelines ({} when the
    engine does not expose them)."""
    out = {}
    for language, nlp in sorted((getattr(nlp_engine, "nlp", None) or {}).items()):
        meta = getattr(nlp, "meta", {}) or {}
        out[language] = f"{meta.get('lang', language)}_{meta.get('name', '?')}=={meta.get('version', '?')}"
    return out
