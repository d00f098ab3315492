"""The real PII detector (Presidio + spaCy fr/en + French pack), loaded once.

Tables of (text, expected detections), false-positive guards, the page/vault path,
PDF redaction checked by an independent extractor, and a subsampled evaluation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import sqlalchemy as sa

from models.pii import build_nlp_engine
from pipelines.anonymising import Anonymiser, PiiDetector, Vault, anonymise_page
from pipelines.anonymising.redact_pdf import RedactionReport, redact_pdf
from pipelines.eval.pii import evaluate_pii
from pipelines.types import Block, Page

pytestmark = pytest.mark.slow

STRUCTURED_SET = Path(__file__).resolve().parents[1] / "data" / "pii_fr_structured.jsonl"


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return PiiDetector(build_nlp_engine(), languages=("fr", "en"))


def found(detector, text, language=None):
    return [(e.type, text[e.start : e.end]) for e in detector.detect(text, language)]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Le requérant a saisi la Cour le 12 mars 2015 et conteste la décision.", "fr"),
        ("The applicant lodged his complaint with the Court in March 2015.", "en"),
        ("M. Dupont", "fr"),  # too short to tell: the default language
    ],
)
def test_language_detection(detector, text, expected):
    assert detector.detect_language(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "Je soussigné M. Jean-Pierre Dupont, né le 12 mars 1985, demeurant 12 bis rue de la Paix, "
            "75002 Paris, déclare le sinistre.",
            [
                ("PERSON", "M. Jean-Pierre Dupont"),
                ("DATE_OF_BIRTH", "12 mars 1985"),
                ("ADDRESS", "12 bis rue de la Paix, 75002 Paris"),
            ],
        ),
        (
            "Merci de contacter Mme Sophie Martin au 06 12 34 56 78 ou sophie.martin@exemple.fr.",
            [("PERSON", "Mme Sophie Martin"), ("PHONE_NUMBER", "06 12 34 56 78"), ("EMAIL_ADDRESS", "sophie.martin@exemple.fr")],
        ),
        (
            "Virement sur le compte FR76 3000 6000 0112 3456 7890 189 (carte 4970 1012 3456 7893).",
            [("IBAN_CODE", "FR76 3000 6000 0112 3456 7890 189"), ("CREDIT_CARD", "4970 1012 3456 7893")],
        ),
        (
            "N° de sécurité sociale : 2 85 05 2A 123 456 80. SIRET : 732 829 320 00074.",
            [("FR_NIR", "2 85 05 2A 123 456 80"), ("FR_SIRET", "732 829 320 00074")],
        ),
        (
            "Hello, I am John Smith; my SSN is 372-51-8846 and my server is 192.168.12.7.",
            [("PERSON", "John Smith"), ("US_SSN", "372-51-8846"), ("IP_ADDRESS", "192.168.12.7")],
        ),
        # a surname repeated without its first name, an enumeration of judges
        (
            "Le tribunal était composé des juges Ferrand, Castelli et Moreno. Le juge Castelli a voté contre.",
            [("PERSON", "Ferrand"), ("PERSON", "Castelli"), ("PERSON", "Moreno"), ("PERSON", "Castelli")],
        ),
    ],
)
def test_detects(detector, text, expected):
    assert found(detector, text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        # the NER calls a drug a person at a sentence start; the text writes it in lower
        # case elsewhere, and it is a rare word: not a name
        ("Carrageenan was dissolved in water. The carrageenan solution was then filtered and stored.", []),
        # a surname that is also an everyday word stays a name, lower case elsewhere or not
        ("Brown signed the claim form. The brown car was parked outside.", ["Brown"]),
        ("M. Petit est venu signer le contrat. Il avait un petit chien.", ["M. Petit"]),
        # "Despite HRV" (a second opinion's person) is an opener and an acronym, and was
        # propagated to every "HRV"
        ("Despite HRV being common, the virus was rare. HRV was found in 20% of cases.", []),
        # the NER calls the drug a person twice and a place three times: the majority wins
        (
            "Peramivir was purchased as powder. Cells were treated with Peramivir for two days. "
            "The combination of Peramivir and heparin was tested in mice. Treatment with Peramivir "
            "alone protected 40% of the animals. Peramivir was dissolved in saline.",
            [],
        ),
        # an enumeration with a detected name makes its other items names, unless the NER
        # labels that item something else in most of the text
        (
            "The drugs (Oseltamivir and Zanamivir worldwide) were tested. Zanamivir was dissolved in water. "
            "Cells were treated with Zanamivir. Zanamivir alone protected the mice. The dose of Zanamivir was low.",
            ["Oseltamivir"],
        ),
        # a name runs over an elided particle and never ends on one ("Pierre Dupont de"
        # made "de" a surname, and every question opening with "De" that person)
        (
            "Le 18 juillet 1808, le général Pierre Dupont de l'Étang et ses 20 000 hommes furent vaincus en Andalousie.",
            ["Pierre Dupont de l'Étang"],
        ),
    ],
)
def test_a_lone_word_is_a_name_only_if_the_text_treats_it_as_one(detector, text, expected):
    language = "en" if any(w in text for w in ("Peramivir", "HRV", "Zanamivir")) else None
    assert [v for t, v in found(detector, text, language) if t == "PERSON"] == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-01 12:00:01 INFO Worker Alice started on host Bob",
        "[ERROR] Martin: connection refused (retry 3/5)",
        "user_name=JeanDupont getUserName() returned null",
        "Référence dossier : SIN-2021-09668",
        "Montant HT : 1 234,56 € ; TVA 20 % ; total 1 481,47 €",
        "FICHE FOURNISSEUR\nRaison sociale : Transports SAS",
        "Veuillez agréer, Madame, Monsieur, nos salutations distinguées.",
    ],
)
def test_no_person_in_logs_codes_and_numbers(detector, text):
    assert [v for t, v in found(detector, text) if t == "PERSON"] == []


def test_general_dates_organisations_and_cities_are_kept_by_default(detector):
    text = "Le 12 mai 2016, la société Renault a ouvert un site à Lyon."
    assert found(detector, text) == []
    everything = detector.detect(text, "fr", entities={"DATE_TIME", "ORGANIZATION", "LOCATION"})
    assert {e.type for e in everything} >= {"LOCATION"}


def test_an_iban_is_not_a_place(detector):
    text = "IBAN FR76 3000 6000 0112 3456 7890 189"
    spans = detector.detect(text, "fr", entities={"IBAN_CODE", "LOCATION"})
    assert [(e.type, text[e.start : e.end]) for e in spans] == [("IBAN_CODE", "FR76 3000 6000 0112 3456 7890 189")]


def test_page_pseudonymisation_with_a_vault(detector, tmp_path):
    vault = Vault(sa.create_engine(f"sqlite:///{tmp_path / 'vault.db'}"), os.urandom(32))
    scope = vault.scope("acme", "claims")
    anonymiser = Anonymiser(detector, hash_key=vault.derive_key("hash operator"))
    text = "Sinistre déclaré par Jean Dupont.\nM. Dupont est joignable au 06 12 34 56 78."
    page = Page(1, text, (Block(0, 33, (0, 0, 100, 10)), Block(34, len(text), (0, 10, 100, 20))))
    new_page, result = anonymise_page(page, anonymiser, document_id="doc-1", store=scope)
    assert new_page.text == "Sinistre déclaré par <PERSON_1>.\n<PERSON_1> est joignable au <PHONE_NUMBER_1>."
    assert [new_page.text[b.start : b.end] for b in new_page.blocks] == new_page.text.split("\n")
    assert scope.reveal(new_page.text) == "Sinistre déclaré par Jean Dupont.\nJean Dupont est joignable au 06 12 34 56 78."
    # the question finds the same token; unknown names are redacted, not stored
    question = anonymiser.anonymise_query("Quel est le téléphone de M. Dupont et de Marie Curie ?", store=scope)
    assert "<PERSON_1>" in question.text and "Dupont" not in question.text and "Curie" not in question.text
    assert scope.lookup("PERSON", "Marie Curie") is None


def test_each_page_gets_its_own_language(detector):
    anonymiser = Anonymiser(detector)
    french = Page(1, "Le requérant, M. Paul Girard, a saisi le tribunal administratif de Lyon en mars 2015.")
    english = Page(2, "The applicant, Mr Paul Girard, brought the case before the court in March 2015.")
    results = [anonymise_page(p, anonymiser, document_id="d")[1] for p in (french, english)]
    assert [r.language for r in results] == ["fr", "en"]
    assert all("Girard" not in r.text for r in results)


SEEDED = {
    "name": "Jean-Pierre Dupont",
    "phone": "06 12 34 56 78",
    "email": "jp.dupont@exemple.fr",
    "iban": "FR76 3000 6000 0112 3456 7890 189",
    "nir": "1 85 05 78 006 084 91",
}


def _make_pdf() -> bytes:
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page()
    lines = [
        "Déclaration de sinistre",
        f"Assuré : M. {SEEDED['name']}",
        f"Téléphone : {SEEDED['phone']} - courriel : {SEEDED['email']}",
        f"IBAN : {SEEDED['iban']}",
        f"N° de sécurité sociale : {SEEDED['nir']}",
        "Montant estimé des réparations : 1 250 euros.",
    ]
    for i, line in enumerate(lines):
        page.insert_text((50, 72 + 20 * i), line, fontsize=10)
    doc.set_metadata({"author": SEEDED["name"]})
    data = doc.tobytes()
    doc.close()
    return data


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext) is not installed")
def test_redacted_pdf_holds_none_of_the_values(detector, tmp_path):
    original = tmp_path / "original.pdf"
    original.write_bytes(_make_pdf())
    before = subprocess.run(["pdftotext", str(original), "-"], capture_output=True, text=True, check=True).stdout
    assert SEEDED["email"] in before  # the extractor sees the text before redaction

    report = RedactionReport()
    redacted = tmp_path / "redacted.pdf"
    redacted.write_bytes(redact_pdf(original.read_bytes(), detector, report=report))
    after = subprocess.run(["pdftotext", str(redacted), "-"], capture_output=True, text=True, check=True).stdout
    compact_after = "".join(after.split())
    for value in SEEDED.values():
        assert "".join(value.split()) not in compact_after, value
    assert "Dupont" not in after
    assert "Montant estimé des réparations" in after  # the rest of the page survives
    assert report.boxes >= len(SEEDED)
    info = subprocess.run(["pdfinfo", str(redacted)], capture_output=True, text=True, check=True).stdout
    assert "Dupont" not in info  # metadata cleared too


def test_evaluation_on_the_french_structured_set(detector):
    result = evaluate_pii(STRUCTURED_SET, detector, every=5)
    (group,) = result["groups"]
    for category in ("FR_NIR", "FR_SIREN", "FR_SIRET", "IBAN_CODE", "PHONE_NUMBER", "EMAIL_ADDRESS", "CREDIT_CARD"):
        metrics = group["categories"][category]
        assert metrics["recall"] >= 0.98, category
        assert metrics["precision"] >= 0.95, category


def test_person_leak_rate_on_a_dev_sample(detector, dev_data):
    result = evaluate_pii(dev_data / "pii", detector, every=3)
    by_source = {g["source"]: g for g in result["groups"]}
    french = next(g for s, g in by_source.items() if s.startswith("ECHR"))
    synthetic = next(g for s, g in by_source.items() if s.startswith("presidio"))
    # the acceptance figure is 0.10 on the whole dev set; a third of it is noisier
    assert french["categories"]["PERSON"]["leak_rate"] <= 0.15
    assert synthetic["categories"]["PERSON"]["leak_rate"] <= 0.2
