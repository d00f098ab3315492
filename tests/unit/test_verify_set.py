"""The perturbed verifier set: labels are right by construction, every kind appears."""

from __future__ import annotations

from pipelines.eval.qa import CorpusDocument
from pipelines.eval.verifier_set import (
    SUPPORTED_KINDS,
    UNSUPPORTED_KINDS,
    build_verifier_set,
    evaluate_attribution,
    evaluate_verifier,
)
from pipelines.verify import SentenceVerifier

EN = " ".join(
    [
        "The company reported revenue of 4,250 million dollars in 2019, according to Moody.",
        "Its plant in Lyon was not affected by the strike that hit Renault in March 2019.",
        "The board approved a dividend of 1.20 dollars per share, paid to Vanguard in June 2020.",
        "Analysts at Barclays expected 312 new jobs, but the company hired 287 people in 2020.",
        "The merger with Globex was signed in Paris on 14 May 2018 by Hank Scorpio himself.",
        "Employees in Berlin received a bonus of 900 euros, while staff in Madrid received none.",
    ]
    * 3
)
FR = " ".join(
    [
        "La commune de Rennes compte 220 000 habitants selon le recensement de 2018.",
        "Le préfet de Bretagne n'a pas autorisé la manifestation prévue le 12 mars 2019.",
        "Le contrat est signé pour une durée de 8 ans avec la société Veolia en janvier 2020.",
        "Le tribunal de Nantes a condamné la société Dupont à une amende de 15 000 euros.",
        "La ligne de tramway relie Brest à Quimper depuis 2017 et transporte 40 000 passagers.",
        "Les habitants de Lorient ne peuvent pas stationner sur le port pendant le festival.",
    ]
    * 3
)


def _docs():
    return [CorpusDocument("en-1", "en.txt", "en", "test", EN), CorpusDocument("fr-1", "fr.txt", "fr", "test", FR)]


def test_every_kind_is_generated_with_a_consistent_label():
    cases = build_verifier_set(_docs(), per_kind=4, seed=1)
    kinds = {c.kind for c in cases}
    assert set(SUPPORTED_KINDS) | set(UNSUPPORTED_KINDS) <= kinds
    for c in cases:
        assert c.supported == (c.kind in SUPPORTED_KINDS)
        if c.kind == "verbatim":
            assert c.sentence in c.passage
        if c.kind in ("number", "date", "name", "negation"):
            assert c.sentence not in c.passage


def test_the_report_gives_precision_and_recall_per_threshold_and_kind():
    cases = build_verifier_set(_docs(), per_kind=4, seed=1)
    report = evaluate_verifier(cases, SentenceVerifier())
    assert 0.0 <= report["at_threshold"]["precision"] <= 1.0
    assert 0.0 <= report["at_threshold"]["recall"] <= 1.0
    assert report["kinds"]["verbatim"]["flagged_unsupported"] == 0.0
    # Most changed facts are caught (a changed year can collide with another year of
    # the same passage, which the lexical check cannot tell apart).
    for kind in ("number", "date", "name"):
        assert report["kinds"][kind]["flagged_unsupported"] >= 0.75, kind


OTHER_EN = " ".join(
    [
        "The hospital in Leeds treated 1,240 patients with influenza during the winter of 2018.",
        "Nurses at the clinic in York did not receive the vaccine before December 2018.",
        "The trial enrolled 96 volunteers and reported no serious adverse events in 2019.",
    ]
    * 3
)


def test_post_hoc_attribution_among_other_passages_still_catches_changed_facts():
    docs = [*_docs(), CorpusDocument("en-2", "en2.txt", "en", "test", OTHER_EN)]
    cases = build_verifier_set(docs, per_kind=4, seed=1)
    report = evaluate_attribution(cases, SentenceVerifier(), distractors=2, seed=1)
    assert report["distractors"] == 2 and report["n"] == len(cases)
    assert report["kinds"]["verbatim"]["flagged_unsupported"] == 0.0
    # Offering more sources must not let a changed number or name through.
    for kind in ("number", "name"):
        assert report["kinds"][kind]["flagged_unsupported"] >= 0.75, kind
