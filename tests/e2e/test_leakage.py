"""Leakage: documents seeded with known PII go through the real pipeline (real parser,
real PII detector, on-disk Qdrant and SQLite); then the raw bytes of every file of the
index and the registry, the logs and the metrics are searched: no seeded value may appear.
The vault (encrypted by design) and the upload spool (encrypted, deleted after indexing)
are the only places allowed to hold them, and only as ciphertext."""

from __future__ import annotations

import json
import logging

import pytest

from tests.conftest import KEYS


def nir_with_key(body: str) -> str:
    return f"{body}{97 - int(body) % 97:02d}"


NIR = nir_with_key("1850578006084")
SEEDED = {
    "person_fr": "Jean-Baptiste Lefèvre",
    "email_fr": "jb.lefevre@exemple-assurance.fr",
    "phone_fr": "06 12 34 56 78",
    "iban_fr": "FR76 3000 6000 0112 3456 7890 189",
    "nir": f"{NIR[0]} {NIR[1:3]} {NIR[3:5]} {NIR[5:7]} {NIR[7:10]} {NIR[10:13]} {NIR[13:]}",
    "person_en": "Margaret Thornton",
    "email_en": "m.thornton@example.com",
}

DOC_FR = f"""Déclaration de sinistre

M. {SEEDED['person_fr']}, né le 14 mars 1985, numéro de sécurité sociale {SEEDED['nir']},
déclare un dégât des eaux survenu le 2 février 2025 dans son appartement.
Contact : {SEEDED['email_fr']}, téléphone {SEEDED['phone_fr']}.
Le remboursement sera versé sur le compte IBAN {SEEDED['iban_fr']}.
Monsieur Lefèvre demande une expertise rapide."""

DOC_EN = f"""Claim notification

Mrs {SEEDED['person_en']} reported the theft of her car on 3 March 2025.
She can be reached at {SEEDED['email_en']}. Ms Thornton asks for a replacement vehicle."""


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    from fastapi.testclient import TestClient

    from services.api.app import create_app
    from services.api.settings import Settings

    from services.logging import JsonFormatter

    class Collect(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.setFormatter(JsonFormatter())
            self.lines: list[str] = []

        def emit(self, record):
            self.lines.append(self.format(record))

    collected = Collect()
    root = logging.getLogger()
    previous_level = root.level
    data_dir = tmp_path_factory.mktemp("leak")
    settings = Settings(data_dir=data_dir, api_keys=json.dumps(list(KEYS.values())), preload_models=False)
    app = create_app(settings)
    with TestClient(app) as client:
        root.addHandler(collected)
        root.setLevel(logging.DEBUG)
        admin = {"Authorization": f"Bearer {KEYS['admin']['key']}"}
        assert client.post("/v1/collections", json={"name": "claims"}, headers=admin).status_code == 201
        response = client.post("/v1/collections/claims/documents", params={"wait": "true"}, headers=admin,
                               files=[("file", ("sinistre.txt", DOC_FR.encode())),
                                      ("file", ("claim.txt", DOC_EN.encode()))])
        assert response.status_code == 201, response.text
        docs = response.json()["documents"]
        assert all(d["status"] == "indexed" for d in docs), docs
        ask = client.post("/v1/collections/claims/ask", headers=admin,
                          json={"question": f"Sur quel compte est versé le remboursement de {SEEDED['person_fr']} ?"})
        assert ask.status_code == 200
        metrics = client.get("/metrics").text
        container = app.state.container
        yield {"client": client, "container": container, "docs": docs, "ask": ask.json(), "metrics": metrics,
               "data_dir": data_dir, "logs": "\n".join(collected.lines)}
    root.removeHandler(collected)
    root.setLevel(previous_level)


def _needles(value: str) -> list[bytes]:
    compact = value.replace(" ", "")
    return sorted({value.encode(), compact.encode()})


def test_every_seeded_value_was_pseudonymised(seeded):
    client, admin = seeded["client"], {"Authorization": f"Bearer {KEYS['admin']['key']}"}
    texts = []
    for doc in seeded["docs"]:
        page = client.get(f"/v1/collections/claims/documents/{doc['document_id']}/pages/1", headers=admin).json()
        texts.append(page["text"])
    joined = "\n".join(texts)
    for name, value in SEEDED.items():
        assert value not in joined and value.replace(" ", "") not in joined, (name, joined)
    assert "<PERSON_" in joined and "<EMAIL_ADDRESS_" in joined


def test_no_seeded_value_in_index_or_registry_files(seeded):
    data_dir = seeded["data_dir"]
    seeded["container"].registry.engine.dispose()
    scanned = 0
    for path in data_dir.rglob("*"):
        if not path.is_file() or path.name.startswith("vault.") or path.parent.name == "spool":
            continue
        blob = path.read_bytes()
        scanned += 1
        for name, value in SEEDED.items():
            for needle in _needles(value):
                assert needle not in blob, f"{name} found in {path.relative_to(data_dir)}"
    assert scanned >= 3  # registry db, index storage, keys...


def test_no_seeded_value_in_answers_audit_metrics_or_logs(seeded):
    answer = json.dumps(seeded["ask"], ensure_ascii=False)
    records = seeded["client"].get("/v1/audit", headers={"Authorization": f"Bearer {KEYS['admin']['key']}"}).text
    for name, value in SEEDED.items():
        for haystack, where in ((answer, "answer"), (records, "audit"), (seeded["metrics"], "metrics"),
                                (seeded["logs"], "logs")):
            assert value not in haystack, f"{name} in {where}"
    assert seeded["logs"], "logs were collected (DEBUG and up, every logger)"
    assert not seeded["ask"]["abstained"], "the pseudonymised question still finds the pseudonymised passage"


def test_the_vault_holds_ciphertext_only(seeded):
    vault_db = seeded["data_dir"] / "vault.db"
    blob = vault_db.read_bytes()
    for name, value in SEEDED.items():
        for needle in _needles(value):
            assert needle not in blob, name
