"""Export the app's OpenAPI document to ``api_specs/openapi.yaml``.

``python -m services.openapi_export`` writes it; ``--check`` exits 1 when the file and the
app disagree (a test runs the same comparison).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

SPEC_PATH = Path(__file__).resolve().parents[1] / "api_specs" / "openapi.yaml"


def current_spec() -> dict:
    from services.api.app import create_app

    return create_app().openapi()  # no lifespan runs: nothing heavy is built


def render(spec: dict) -> str:
    return yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)


def main(argv: list[str]) -> int:
    text = render(current_spec())
    if "--check" in argv:
        if not SPEC_PATH.exists() or SPEC_PATH.read_text(encoding="utf-8") != text:
            print(f"{SPEC_PATH} is out of date: run `python -m services.openapi_export`", file=sys.stderr)
            return 1
        return 0
    SPEC_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {SPEC_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
