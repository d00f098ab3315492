"""PII detection and pseudonymisation (issue 3).

Typical wiring (the service's container does this once)::

    from models.pii import build_nlp_engine
    from pipelines.anonymising import Anonymiser, PiiDetector, Vault, anonymise_page, load_or_create_key

    detector = PiiDetector(build_nlp_engine(), languages=("fr", "en"))
    vault = Vault(sqlalchemy.create_engine("sqlite:///data/vault.db"), load_or_create_key("data/vault.key"))
    anonymiser = Anonymiser(detector, hash_key=vault.derive_key("hash operator"))
    scope = vault.scope(tenant, collection)
    new_page, result = anonymise_page(page, anonymiser, document_id=doc_id, store=scope)

Importing this package is cheap: Presidio and spaCy load when a ``PiiDetector`` is built.
"""

from pipelines.anonymising.anonymiser import (
    OPERATORS,
    Anonymiser,
    apply_replacements,
    hash_token,
    mask_value,
    redact_token,
)
from pipelines.anonymising.entities import ALL_ENTITIES, DEFAULT_ENTITIES, check_entities
from pipelines.anonymising.page import anonymise_page, remap_blocks
from pipelines.anonymising.vault import (
    InMemoryTokenStore,
    TokenStore,
    Vault,
    VaultKeyError,
    VaultScope,
    load_or_create_key,
    parse_key,
)


def __getattr__(name):
    # The detector imports Presidio; keep it out of plain imports of this package.
    if name == "PiiDetector":
        from pipelines.anonymising.detector import PiiDetector

        return PiiDetector
    raise AttributeError(name)


__all__ = [
    "ALL_ENTITIES",
    "DEFAULT_ENTITIES",
    "OPERATORS",
    "Anonymiser",
    "InMemoryTokenStore",
    "PiiDetector",
    "TokenStore",
    "Vault",
    "VaultKeyError",
    "VaultScope",
    "anonymise_page",
    "apply_replacements",
    "check_entities",
    "hash_token",
    "load_or_create_key",
    "mask_value",
    "parse_key",
    "redact_token",
    "remap_blocks",
]
