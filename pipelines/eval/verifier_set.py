"""A labelled set of supported and unsupported sentences, to measure the verifier.

Each case is ``(sentence, passage, supported)`` built from real corpus passages (a
window of consecutive sentences):

* supported: the sentence verbatim (``verbatim``), or shortened to its first clause
  (``shortened``);
* unsupported: one fact changed — a number (``number``), a year or month (``date``),
  a name replaced by a name from another document (``name``), a negation added or
  removed (``negation``) — or a true sentence of the same document checked against
  a passage that does not contain it (``wrong_passage``).

``evaluate_verifier`` reports precision and recall at *detecting unsupported*
sentences (positive = unsupported), overall and per kind, for a range of thresholds,
so the one global threshold can be chosen and justified. Deterministic for a seed.

``evaluate_attribution`` asks the same of post-hoc attribution (an LLM sentence that
cites nothing, ``SentenceVerifier.attribute``): each sentence is offered its passage
among ``distractors`` passages of other documents, and counts as supported when it is
attributed to any of them. Searching several sources is more lenient than checking
the one cited; this measures by how much.

Run: ``python -m pipelines.eval.verifier_set [--dataset DIR] [--embedder NAME]
[--attribution N]``.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines import lexical
from pipelines.eval.qa import CorpusDocument, load_corpus
from pipelines.verify import SentenceVerifier

SUPPORTED_KINDS = ("verbatim", "shortened")
UNSUPPORTED_KINDS = ("number", "date", "name", "negation", "wrong_passage")

_MONTHS = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December"],
    "fr": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
           "septembre", "octobre", "novembre", "décembre"],
}
_YEAR_RE = re.compile(r"(?<!\d)(1[5-9]\d\d|20\d\d)(?!\d)")
_NUMBER_RE = re.compile(r"(?<![\d.,])\d+(?:[.,]\d+)?(?![\d])")
_EN_AUX = re.compile(r"\b(is|are|was|were|can|will|has|have|had|does|did|should|may|might|could|would|must)\b")
_EN_NEG = re.compile(r"\s+(not|never)\b|\bno\s+(?=\w)", re.IGNORECASE)
_FR_VERB = re.compile(r"\b(est|sont|était|étaient|a|ont|peut|peuvent|doit|doivent|sera|seront|permet|permettent)\b")
_FR_NEG = re.compile(r"\b(?:ne|n['’])\s*(\w+)\s+(?:pas|jamais|plus)\b", re.IGNORECASE)


@dataclass(frozen=True)
class VerifierCase:
    sentence: str
    passage: str
    supported: bool
    kind: str
    lang: str
    doc_id: str


def _passages(doc: CorpusDocument, width: int = 3) -> list[tuple[str, list[str]]]:
    """(passage, its sentences) for windows of ``width`` readable sentences."""
    text = doc.text
    sentences = [text[s:e] for s, e in lexical.sentence_spans(text)]
    sentences = [s for s in sentences if 40 <= len(s) <= 400 and len(s.split()) >= 6 and "|" not in s]
    out = []
    for i in range(0, max(0, len(sentences) - width + 1), width):
        window = sentences[i : i + width]
        out.append((" ".join(window), window))
    return out


def _change_number(sentence: str, rng: random.Random) -> str | None:
    candidates = [m for m in _NUMBER_RE.finditer(sentence) if not _YEAR_RE.fullmatch(m.group(0))]
    if not candidates:
        return None
    m = rng.choice(candidates)
    raw = m.group(0)
    digits = re.sub(r"\D", "", raw)
    # Change one significant digit so the magnitude stays plausible.
    pos = rng.randrange(len(digits))
    new_digit = rng.choice([d for d in "123456789" if d != digits[pos]])
    new_digits = digits[:pos] + new_digit + digits[pos + 1 :]
    out, j = [], 0
    for ch in raw:
        if ch.isdigit():
            out.append(new_digits[j])
            j += 1
        else:
            out.append(ch)
    return sentence[: m.start()] + "".join(out) + sentence[m.end() :]


def _change_date(sentence: str, lang: str, rng: random.Random) -> str | None:
    years = list(_YEAR_RE.finditer(sentence))
    if years:
        m = rng.choice(years)
        new = str(int(m.group(0)) + rng.choice([-3, -2, -1, 1, 2, 3]))
        return sentence[: m.start()] + new + sentence[m.end() :]
    for month in _MONTHS.get(lang, []):
        m = re.search(rf"\b{month}\b", sentence, re.IGNORECASE)
        if m:
            other = rng.choice([x for x in _MONTHS[lang] if x.lower() != month.lower()])
            return sentence[: m.start()] + other + sentence[m.end() :]
    return None


def _names(sentence: str) -> list[re.Match]:
    out = []
    for m in re.finditer(r"(?<=[\s(])([A-ZÀ-Ý][a-zà-ÿ]{2,}(?:[- ][A-ZÀ-Ý][a-zà-ÿ]{2,})*)", sentence):
        out.append(m)
    return out


def _change_name(sentence: str, passage: str, name_pool: Sequence[str], rng: random.Random) -> str | None:
    names = _names(sentence)
    if not names or not name_pool:
        return None
    m = rng.choice(names)
    choices = [n for n in name_pool if n.lower() not in passage.lower()]
    if not choices:
        return None
    return sentence[: m.start()] + rng.choice(choices) + sentence[m.end() :]


def _flip_negation(sentence: str, lang: str) -> str | None:
    if lang == "fr":
        m = _FR_NEG.search(sentence)
        if m:
            return sentence[: m.start()] + m.group(1) + sentence[m.end() :]
        m = _FR_VERB.search(sentence)
        if not m:
            return None
        verb = m.group(1)
        negated = f"n'{verb} pas" if verb[0] in "aeéiou" else f"ne {verb} pas"
        return sentence[: m.start()] + negated + sentence[m.end() :]
    m = _EN_NEG.search(sentence)
    if m:
        return (sentence[: m.start()] + " " + sentence[m.end() :].lstrip()).replace("  ", " ")
    m = _EN_AUX.search(sentence)
    if not m:
        return None
    return sentence[: m.end()] + " not" + sentence[m.end() :]


def _shorten(sentence: str) -> str | None:
    m = re.search(r"[,;:]", sentence)
    if not m:
        return None
    clause = sentence[: m.start()].strip()
    if len(clause.split()) < 5:
        return None
    return clause + "."


def build_verifier_set(
    documents: Mapping[str, CorpusDocument] | Iterable[CorpusDocument],
    *,
    per_kind: int = 60,
    seed: int = 7,
) -> list[VerifierCase]:
    """Up to ``per_kind`` cases of each kind, balanced over languages."""
    docs = list(documents.values()) if isinstance(documents, Mapping) else list(documents)
    rng = random.Random(seed)
    by_lang: dict[str, list[tuple[CorpusDocument, str, list[str]]]] = defaultdict(list)
    name_pool: dict[str, list[str]] = defaultdict(list)
    for doc in sorted(docs, key=lambda d: d.doc_id):
        lang = doc.lang or lexical.detect_language(doc.text[:2000])
        passages = _passages(doc)
        for passage, sentences in passages:
            by_lang[lang].append((doc, passage, sentences))
            for s in sentences:
                name_pool[lang].extend(m.group(1) for m in _names(s))
    for lang in name_pool:
        name_pool[lang] = sorted(set(name_pool[lang]))

    cases: list[VerifierCase] = []
    for lang, passages in sorted(by_lang.items()):
        rng.shuffle(passages)
        quota = max(1, per_kind // max(1, len(by_lang)))
        counts: dict[str, int] = defaultdict(int)
        for doc, passage, sentences in passages:
            sentence = rng.choice(sentences)
            proposals = {
                "verbatim": sentence,
                "shortened": _shorten(sentence),
                "number": _change_number(sentence, rng),
                "date": _change_date(sentence, lang, rng),
                "name": _change_name(sentence, passage, name_pool[lang], rng),
                "negation": _flip_negation(sentence, lang),
            }
            for kind, text in proposals.items():
                # A perturbation that changed nothing is not a case (verbatim is meant to).
                usable = bool(text) and (kind == "verbatim" or text != sentence)
                if usable and counts[kind] < quota:
                    counts[kind] += 1
                    cases.append(VerifierCase(text, passage, kind in SUPPORTED_KINDS, kind, lang, doc.doc_id))
            # Wrong passage: a true sentence of the same document, another window.
            others = [p for d, p, _ in passages if d.doc_id == doc.doc_id and p != passage]
            if others and counts["wrong_passage"] < quota:
                counts["wrong_passage"] += 1
                cases.append(VerifierCase(sentence, rng.choice(others), False, "wrong_passage", lang, doc.doc_id))
            if all(counts[k] >= quota for k in (*SUPPORTED_KINDS, *UNSUPPORTED_KINDS)):
                break
    return cases


def evaluate_verifier(
    cases: Sequence[VerifierCase],
    verifier: SentenceVerifier,
    *,
    thresholds: Sequence[float] = (0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8),
) -> dict[str, Any]:
    """Precision/recall at detecting unsupported sentences, per threshold and per kind."""
    scores = [verifier.support(c.sentence, [c.passage], lang=c.lang) for c in cases]
    out: dict[str, Any] = {"n": len(cases), "kinds": {}, "thresholds": {}}
    for t in thresholds:
        out["thresholds"][t] = _pr(cases, scores, t)
    t = verifier.threshold
    out["at_threshold"] = {"threshold": t, **_pr(cases, scores, t)}
    for kind in (*SUPPORTED_KINDS, *UNSUPPORTED_KINDS):
        idx = [i for i, c in enumerate(cases) if c.kind == kind]
        if not idx:
            continue
        flagged = sum(1 for i in idx if scores[i] < t)
        out["kinds"][kind] = {"n": len(idx), "flagged_unsupported": round(flagged / len(idx), 3)}
    return out


def evaluate_attribution(
    cases: Sequence[VerifierCase], verifier: SentenceVerifier, *, distractors: int = 3, seed: int = 7
) -> dict[str, Any]:
    """Precision/recall at detecting unsupported sentences when each is attributed post
    hoc among its passage and ``distractors`` passages of other documents (same
    language, shuffled), at the verifier's threshold. Same report shape as
    ``evaluate_verifier`` (one threshold)."""
    rng = random.Random(seed)
    pool: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for passage, doc_id, lang in sorted({(c.passage, c.doc_id, c.lang) for c in cases}):
        pool[lang].append((doc_id, passage))
    scores = []
    for c in cases:
        others = [p for d, p in pool[c.lang] if d != c.doc_id]
        sources = [c.passage, *rng.sample(others, min(distractors, len(others)))]
        rng.shuffle(sources)
        attributed = verifier.attribute(c.sentence, sources, lang=c.lang)
        # 1.0 = supported (attributed somewhere), 0.0 = flagged unsupported.
        scores.append(1.0 if attributed else 0.0)
    t = verifier.threshold
    out: dict[str, Any] = {"n": len(cases), "kinds": {}, "distractors": distractors,
                           "thresholds": {t: _pr(cases, scores, 0.5)}}
    out["at_threshold"] = {"threshold": t, **_pr(cases, scores, 0.5)}
    for kind in (*SUPPORTED_KINDS, *UNSUPPORTED_KINDS):
        idx = [i for i, c in enumerate(cases) if c.kind == kind]
        if idx:
            flagged = sum(1 for i in idx if scores[i] < 0.5)
            out["kinds"][kind] = {"n": len(idx), "flagged_unsupported": round(flagged / len(idx), 3)}
    return out


def _pr(cases: Sequence[VerifierCase], scores: Sequence[float], t: float) -> dict[str, float]:
    tp = sum(1 for c, s in zip(cases, scores) if not c.supported and s < t)
    fp = sum(1 for c, s in zip(cases, scores) if c.supported and s < t)
    fn = sum(1 for c, s in zip(cases, scores) if not c.supported and s >= t)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(precision, 3), "recall": round(recall, 3)}


def format_verifier_report(report: Mapping[str, Any], *, title: str) -> str:
    lines = [f"### {title}", "", f"{report['n']} cases; positive = unsupported", "",
             "| threshold | precision | recall |", "|---|---|---|"]
    for t, pr in report["thresholds"].items():
        lines.append(f"| {t} | {pr['precision']:.3f} | {pr['recall']:.3f} |")
    lines += ["", f"per kind at threshold {report['at_threshold']['threshold']}:", "",
              "| kind | n | flagged unsupported |", "|---|---|---|"]
    for kind, k in report["kinds"].items():
        lines.append(f"| {kind} | {k['n']} | {k['flagged_unsupported']:.3f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    import os

    from pipelines.eval.qa import _default_dataset

    parser = argparse.ArgumentParser(description="Measure the sentence verifier on a perturbed set.")
    parser.add_argument("--dataset", type=Path, default=None)
    parser.add_argument("--embedder", default=None, help="add semantic similarity with this embedder")
    parser.add_argument("--per-kind", type=int, default=80)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--threshold", type=float, default=None)
    parser.add_argument("--attribution", type=int, default=0, metavar="N",
                        help="also measure post-hoc attribution: each sentence among its passage and N others")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    documents = load_corpus(args.dataset or _default_dataset())
    cases = build_verifier_set(documents, per_kind=args.per_kind, seed=args.seed)
    embedder = None
    if args.embedder:
        from models.registry import build_embedder

        embedder = build_embedder(args.embedder)
    verifier = SentenceVerifier(embedder) if args.threshold is None else SentenceVerifier(embedder, threshold=args.threshold)
    report = evaluate_verifier(cases, verifier)
    title = f"verifier ({'lexical only' if embedder is None else 'lexical + ' + embedder.name})"
    print(format_verifier_report(report, title=title))
    if args.attribution:
        report = evaluate_attribution(cases, verifier, distractors=args.attribution, seed=args.seed)
        print()
        print(format_verifier_report(
            report, title=f"post-hoc attribution among 1 + {args.attribution} passages, {title}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
