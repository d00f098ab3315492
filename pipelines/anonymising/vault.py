"""The pseudonym vault: token <-> original value, encrypted, per tenant and collection.

Storage (its own tables, meant for a database file apart from the index):

- ``vault_entries``: one row per distinct value of a scope: its token (``<PERSON_3>``),
  the value encrypted with AES-GCM, and lookup keys that are HMACs of the normalised
  value (and of its surname for multi-word person names). The plain value is never
  stored, not even hashed without a key.
- ``vault_refs``: which documents use an entry. Forgetting a document removes its
  refs, then every entry no other document uses. Entries created outside any
  document (``document_id=None``, e.g. the anonymise endpoint with a collection) are
  referenced by the empty document id and go only with ``drop()``.
- ``vault_counters``: the last number given per type; numbers are never reused, so a
  forgotten person's token never comes back as someone else's.
- ``vault_pages``: original page texts, encrypted, so a re-index can pseudonymise again
  with better recognisers (off with ``keep_original_pages=False``).

Keys: the operator's 32-byte master key is never used directly; HKDF derives one key
for encryption and one for the lookup HMACs. The associated data of every ciphertext
binds it to its scope and row, so a ciphertext copied elsewhere does not decrypt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pipelines.anonymising.normalise import is_single_word_person, normalise_value, surname_of

KEY_BYTES = 32
TOKEN_RE = re.compile(r"<([A-Z][A-Z0-9_]*?)_(\d+)>")
"""A pseudonym as it appears in text: ``<PERSON_3>``, ``<FR_NIR_12>``."""

NO_DOCUMENT = ""


class VaultKeyError(ValueError):
    """The key is malformed, or is not the key this vault was created with."""


# Keys -------------------------------------------------------------------------------


def parse_key(text: str | bytes) -> bytes:
    """A 32-byte key from its base64 (standard or url-safe) or hex writing, or raw bytes."""
    if isinstance(text, bytes):
        if len(text) == KEY_BYTES:
            return text
        text = text.decode("ascii", errors="strict")
    text = text.strip()
    for decode in (
        bytes.fromhex,
        lambda t: base64.b64decode(t, validate=True),
        lambda t: base64.urlsafe_b64decode(t),
    ):
        try:
            key = decode(text)
        except ValueError:
            continue
        if len(key) == KEY_BYTES:
            return key
    raise VaultKeyError(f"a vault key is {KEY_BYTES} bytes, written in base64 or hex")


def load_or_create_key(path: str | Path) -> bytes:
    """Read the key at ``path``, or create it: 32 random bytes, base64, mode 0600."""
    path = Path(path)
    if path.exists():
        return parse_key(path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(KEY_BYTES)
    # O_EXCL: two processes starting together must not both write a key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return parse_key(path.read_bytes())
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode("ascii") + "\n")
    return key


def _derive(master: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(master)


@dataclass(frozen=True)
class _Keys:
    encryption: AESGCM
    lookup: bytes

    @staticmethod
    def from_master(master: bytes) -> "_Keys":
        if len(master) != KEY_BYTES:
            raise VaultKeyError(f"a vault key is {KEY_BYTES} bytes")
        return _Keys(
            encryption=AESGCM(_derive(master, "docintel vault encryption v1")),
            lookup=_derive(master, "docintel vault lookup v1"),
        )

    def seal(self, plain: str, aad: str) -> bytes:
        nonce = secrets.token_bytes(12)
        return nonce + self.encryption.encrypt(nonce, plain.encode("utf-8"), aad.encode("utf-8"))

    def open(self, sealed: bytes, aad: str) -> str:
        try:
            return self.encryption.decrypt(sealed[:12], sealed[12:], aad.encode("utf-8")).decode("utf-8")
        except InvalidTag as exc:
            raise VaultKeyError("vault entry does not decrypt with this key") from exc

    def mac(self, *parts: str) -> str:
        return hmac.new(self.lookup, "\x1f".join(parts).encode("utf-8"), hashlib.sha256).hexdigest()


# The store interface ------------------------------------------------------------------


class TokenStore(Protocol):
    """Where pseudonyms come from: a collection's vault, or a request-local table."""

    def tokens_for(
        self, items: Sequence[tuple[str, str]], document_id: str | None = None
    ) -> list[str]:
        """Tokens for ``(entity_type, value)`` items, created when new (consistency
        rule in ``normalise``)."""
        ...

    def lookup(self, entity_type: str, value: str) -> str | None:
        """The existing token of a value, or None. Never creates one."""
        ...

    def reveal(self, text: str) -> str:
        """``text`` with every known token replaced by its original value."""
        ...


def format_token(entity_type: str, number: int) -> str:
    return f"<{entity_type}_{number}>"


class InMemoryTokenStore:
    """Request-local pseudonyms: consistent within one store object, kept nowhere."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], str] = {}
        self._values: dict[str, str] = {}
        self._counters: dict[str, int] = {}
        self._full_names: dict[tuple[str, str], set[str]] = {}  # (document, surname) -> tokens
        self._lock = threading.Lock()

    def tokens_for(self, items, document_id=None):
        document = document_id or NO_DOCUMENT
        out = []
        with self._lock:
            for entity_type, value in items:
                normal = normalise_value(entity_type, value)
                if is_single_word_person(entity_type, normal):
                    candidates = self._full_names.get((document, normal), set())
                    if len(candidates) == 1:
                        out.append(next(iter(candidates)))
                        continue
                token = self._by_key.get((entity_type, normal))
                if token is None:
                    number = self._counters.get(entity_type, 0) + 1
                    self._counters[entity_type] = number
                    token = format_token(entity_type, number)
                    self._by_key[(entity_type, normal)] = token
                    self._values[token] = value
                surname = surname_of(entity_type, normal)
                if surname:
                    self._full_names.setdefault((document, surname), set()).add(token)
                out.append(token)
        return out

    def token_for(self, entity_type: str, value: str, document_id: str | None = None) -> str:
        return self.tokens_for([(entity_type, value)], document_id)[0]

    def lookup(self, entity_type, value):
        normal = normalise_value(entity_type, value)
        with self._lock:
            token = self._by_key.get((entity_type, normal))
            if token is None and is_single_word_person(entity_type, normal):
                candidates = set().union(
                    *(t for (_, s), t in self._full_names.items() if s == normal)
                )
                if len(candidates) == 1:
                    token = next(iter(candidates))
            return token

    def reveal(self, text):
        return TOKEN_RE.sub(lambda m: self._values.get(m.group(0), m.group(0)), text)


# The vault ------------------------------------------------------------------------------


class Vault:
    """Encrypted pseudonym store for every collection of every tenant.

    ``engine`` is a SQLAlchemy engine of its own (a separate SQLite file by default);
    the tables are created here. One lock serialises writers of this process.
    """

    def __init__(self, engine: sa.Engine, key: bytes, *, keep_original_pages: bool = True):
        self.engine = engine
        self.keep_original_pages = keep_original_pages
        self._keys = _Keys.from_master(key)
        self._master = key
        self._lock = threading.RLock()
        md = sa.MetaData()
        self.entries = sa.Table(
            "vault_entries",
            md,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("tenant", sa.String(200), nullable=False),
            sa.Column("collection", sa.String(200), nullable=False),
            sa.Column("entity_type", sa.String(64), nullable=False),
            sa.Column("token", sa.String(100), nullable=False),
            sa.Column("value_key", sa.String(64), nullable=False),
            sa.Column("surname_key", sa.String(64), nullable=True),
            sa.Column("value_ct", sa.LargeBinary, nullable=False),
            sa.UniqueConstraint("tenant", "collection", "entity_type", "value_key"),
            sa.UniqueConstraint("tenant", "collection", "token"),
            sa.Index("ix_vault_entries_surname", "tenant", "collection", "surname_key"),
        )
        self.refs = sa.Table(
            "vault_refs",
            md,
            sa.Column("entry_id", sa.Integer, sa.ForeignKey("vault_entries.id"), primary_key=True),
            sa.Column("document_id", sa.String(200), primary_key=True),
            sa.Index("ix_vault_refs_document", "document_id"),
        )
        self.counters = sa.Table(
            "vault_counters",
            md,
            sa.Column("tenant", sa.String(200), primary_key=True),
            sa.Column("collection", sa.String(200), primary_key=True),
            sa.Column("entity_type", sa.String(64), primary_key=True),
            sa.Column("last", sa.Integer, nullable=False),
        )
        self.pages = sa.Table(
            "vault_pages",
            md,
            sa.Column("tenant", sa.String(200), primary_key=True),
            sa.Column("collection", sa.String(200), primary_key=True),
            sa.Column("document_id", sa.String(200), primary_key=True),
            sa.Column("page_no", sa.Integer, primary_key=True),
            sa.Column("text_ct", sa.LargeBinary, nullable=False),
        )
        self.keycheck = sa.Table(
            "vault_keycheck",
            md,
            sa.Column("id", sa.Integer, primary_key=True),
            sa.Column("check_ct", sa.LargeBinary, nullable=False),
        )
        md.create_all(engine)
        self._check_key()

    _KEYCHECK_PLAIN = "docintel vault key check"

    def _check_key(self) -> None:
        with self._lock, self.engine.begin() as conn:
            row = conn.execute(sa.select(self.keycheck.c.check_ct).where(self.keycheck.c.id == 1)).first()
            if row is None:
                conn.execute(
                    self.keycheck.insert().values(
                        id=1, check_ct=self._keys.seal(self._KEYCHECK_PLAIN, "keycheck")
                    )
                )
            elif self._keys.open(row.check_ct, "keycheck") != self._KEYCHECK_PLAIN:
                raise VaultKeyError("this is not the key of this vault")

    def scope(self, tenant: str, collection: str) -> "VaultScope":
        return VaultScope(self, tenant, collection)

    def derive_key(self, purpose: str) -> bytes:
        """A key for another use (e.g. the HMAC of the ``hash`` operator), derived from
        the master key so the operator manages one secret."""
        return _derive(self._master, f"docintel {purpose}")

    def rotate_key(self, new_key: bytes) -> None:
        """Re-encrypt every value and page, and recompute every lookup HMAC, under
        ``new_key``, in one transaction. Afterwards only ``new_key`` opens the vault."""
        new = _Keys.from_master(new_key)
        with self._lock, self.engine.begin() as conn:
            for row in conn.execute(sa.select(self.entries)).all():
                aad = _entry_aad(row.tenant, row.collection, row.entity_type, row.token)
                value = self._keys.open(row.value_ct, aad)
                normal = normalise_value(row.entity_type, value)
                surname = surname_of(row.entity_type, normal)
                conn.execute(
                    self.entries.update()
                    .where(self.entries.c.id == row.id)
                    .values(
                        value_ct=new.seal(value, aad),
                        value_key=new.mac(row.tenant, row.collection, row.entity_type, normal),
                        surname_key=new.mac(row.tenant, row.collection, "surname", surname) if surname else None,
                    )
                )
            for row in conn.execute(sa.select(self.pages)).all():
                aad = _page_aad(row.tenant, row.collection, row.document_id, row.page_no)
                text = self._keys.open(row.text_ct, aad)
                conn.execute(
                    self.pages.update()
                    .where(
                        (self.pages.c.tenant == row.tenant)
                        & (self.pages.c.collection == row.collection)
                        & (self.pages.c.document_id == row.document_id)
                        & (self.pages.c.page_no == row.page_no)
                    )
                    .values(text_ct=new.seal(text, aad))
                )
            conn.execute(
                self.keycheck.update()
                .where(self.keycheck.c.id == 1)
                .values(check_ct=new.seal(self._KEYCHECK_PLAIN, "keycheck"))
            )
        self._keys = new
        self._master = new_key


def _entry_aad(tenant: str, collection: str, entity_type: str, token: str) -> str:
    return f"entry\x1f{tenant}\x1f{collection}\x1f{entity_type}\x1f{token}"


def _page_aad(tenant: str, collection: str, document_id: str, page_no: int) -> str:
    return f"page\x1f{tenant}\x1f{collection}\x1f{document_id}\x1f{page_no}"


class VaultScope:
    """The vault of one collection (``TokenStore``). Cheap to create; holds no state
    besides its names."""

    def __init__(self, vault: Vault, tenant: str, collection: str):
        self.vault = vault
        self.tenant = tenant
        self.collection = collection

    # tokens ---------------------------------------------------------------------

    def _where(self, table):
        return (table.c.tenant == self.tenant) & (table.c.collection == self.collection)

    def _value_key(self, entity_type: str, normal: str) -> str:
        return self.vault._keys.mac(self.tenant, self.collection, entity_type, normal)

    def _surname_key(self, surname: str) -> str:
        return self.vault._keys.mac(self.tenant, self.collection, "surname", surname)

    def tokens_for(self, items: Sequence[tuple[str, str]], document_id: str | None = None) -> list[str]:
        document = document_id or NO_DOCUMENT
        v = self.vault
        out: list[str] = []
        with v._lock, v.engine.begin() as conn:
            for entity_type, value in items:
                normal = normalise_value(entity_type, value)
                token_row = None
                if document_id and is_single_word_person(entity_type, normal):
                    candidates = conn.execute(
                        sa.select(v.entries.c.id, v.entries.c.token)
                        .join(v.refs, v.refs.c.entry_id == v.entries.c.id)
                        .where(
                            self._where(v.entries)
                            & (v.entries.c.surname_key == self._surname_key(normal))
                            & (v.refs.c.document_id == document)
                        )
                    ).all()
                    if len(candidates) == 1:
                        token_row = candidates[0]
                if token_row is None:
                    token_row = conn.execute(
                        sa.select(v.entries.c.id, v.entries.c.token).where(
                            self._where(v.entries)
                            & (v.entries.c.entity_type == entity_type)
                            & (v.entries.c.value_key == self._value_key(entity_type, normal))
                        )
                    ).first()
                if token_row is None:
                    token_row = self._create(conn, entity_type, value, normal)
                entry_id, token = token_row[0], token_row[1]
                exists = conn.execute(
                    sa.select(v.refs.c.entry_id).where(
                        (v.refs.c.entry_id == entry_id) & (v.refs.c.document_id == document)
                    )
                ).first()
                if exists is None:
                    conn.execute(v.refs.insert().values(entry_id=entry_id, document_id=document))
                out.append(token)
        return out

    def _create(self, conn, entity_type: str, value: str, normal: str) -> tuple[int, str]:
        v = self.vault
        where = self._where(v.counters) & (v.counters.c.entity_type == entity_type)
        last = conn.execute(sa.select(v.counters.c.last).where(where)).scalar()
        number = (last or 0) + 1
        if last is None:
            conn.execute(
                v.counters.insert().values(
                    tenant=self.tenant, collection=self.collection, entity_type=entity_type, last=number
                )
            )
        else:
            conn.execute(v.counters.update().where(where).values(last=number))
        token = format_token(entity_type, number)
        surname = surname_of(entity_type, normal)
        result = conn.execute(
            v.entries.insert().values(
                tenant=self.tenant,
                collection=self.collection,
                entity_type=entity_type,
                token=token,
                value_key=self._value_key(entity_type, normal),
                surname_key=self._surname_key(surname) if surname else None,
                value_ct=v._keys.seal(value, _entry_aad(self.tenant, self.collection, entity_type, token)),
            )
        )
        return result.inserted_primary_key[0], token

    def token_for(self, entity_type: str, value: str, document_id: str | None = None) -> str:
        """The token of ``value`` in this collection, created when new."""
        return self.tokens_for([(entity_type, value)], document_id)[0]

    def lookup(self, entity_type: str, value: str) -> str | None:
        """Ask-time: the token of a value seen at ingestion, or None; never creates. A
        lone surname finds the full name when exactly one in the collection ends with it."""
        v = self.vault
        normal = normalise_value(entity_type, value)
        with v._lock, v.engine.connect() as conn:
            token = conn.execute(
                sa.select(v.entries.c.token).where(
                    self._where(v.entries)
                    & (v.entries.c.entity_type == entity_type)
                    & (v.entries.c.value_key == self._value_key(entity_type, normal))
                )
            ).scalar()
            if token is None and is_single_word_person(entity_type, normal):
                tokens = conn.execute(
                    sa.select(v.entries.c.token).where(
                        self._where(v.entries) & (v.entries.c.surname_key == self._surname_key(normal))
                    )
                ).scalars().all()
                if len(tokens) == 1:
                    token = tokens[0]
            return token

    def reveal(self, text: str, *, readable: Callable[[str], bool] | None = None) -> str:
        """``text`` with this collection's tokens replaced by the original values;
        unknown tokens stay as they are.

        ``readable(document_id)`` restricts the reveal to values seen in a document it
        accepts or in a document-less request (``/v1/anonymise`` with this collection): a
        caller who may not read a document cannot learn the names behind its pseudonyms.
        Only the documents of the tokens present in ``text`` are asked about. ``None``
        means no restriction (a caller who may read every document).
        """
        tokens = {m.group(0) for m in TOKEN_RE.finditer(text)}
        if not tokens:
            return text
        v = self.vault
        query = sa.select(v.entries.c.token, v.entries.c.entity_type, v.entries.c.value_ct, v.refs.c.document_id).join(
            v.refs, v.refs.c.entry_id == v.entries.c.id
        ).where(self._where(v.entries) & v.entries.c.token.in_(sorted(tokens)))
        with v._lock, v.engine.connect() as conn:
            found = conn.execute(query).all()
        verdicts: dict[str, bool] = {}  # document id -> readable, asked once each

        def may_reveal(document_id: str) -> bool:
            if readable is None or document_id == NO_DOCUMENT:
                return True
            if document_id not in verdicts:
                verdicts[document_id] = readable(document_id)
            return verdicts[document_id]

        kept = {r.token: r for r in found if may_reveal(r.document_id)}
        values = {
            r.token: v._keys.open(r.value_ct, _entry_aad(self.tenant, self.collection, r.entity_type, r.token))
            for r in kept.values()
        }
        return TOKEN_RE.sub(lambda m: values.get(m.group(0), m.group(0)), text)

    # erasure ----------------------------------------------------------------------

    def forget_document(self, document_id: str) -> int:
        """Remove the document's refs and original pages, then the entries no other
        document (nor a document-less request) uses. Returns how many entries went."""
        v = self.vault
        with v._lock, v.engine.begin() as conn:
            entry_ids = conn.execute(
                sa.select(v.refs.c.entry_id)
                .join(v.entries, v.entries.c.id == v.refs.c.entry_id)
                .where(self._where(v.entries) & (v.refs.c.document_id == document_id))
            ).scalars().all()
            if entry_ids:
                conn.execute(
                    v.refs.delete().where(
                        v.refs.c.entry_id.in_(entry_ids) & (v.refs.c.document_id == document_id)
                    )
                )
                still_used = set(
                    conn.execute(
                        sa.select(v.refs.c.entry_id).where(v.refs.c.entry_id.in_(entry_ids)).distinct()
                    ).scalars()
                )
                orphans = [i for i in entry_ids if i not in still_used]
                if orphans:
                    conn.execute(v.entries.delete().where(v.entries.c.id.in_(orphans)))
            else:
                orphans = []
            conn.execute(
                v.pages.delete().where(self._where(v.pages) & (v.pages.c.document_id == document_id))
            )
        return len(orphans)

    def drop(self) -> None:
        """Erase the whole collection: entries, refs, counters and original pages."""
        v = self.vault
        with v._lock, v.engine.begin() as conn:
            ids = sa.select(v.entries.c.id).where(self._where(v.entries))
            conn.execute(v.refs.delete().where(v.refs.c.entry_id.in_(ids)))
            conn.execute(v.entries.delete().where(self._where(v.entries)))
            conn.execute(v.counters.delete().where(self._where(v.counters)))
            conn.execute(v.pages.delete().where(self._where(v.pages)))

    # original pages ---------------------------------------------------------------

    def store_original_page(self, document_id: str, page_no: int, text: str) -> None:
        """Keep the original text of a page, encrypted (no-op when the vault keeps none)."""
        v = self.vault
        if not v.keep_original_pages:
            return
        sealed = v._keys.seal(text, _page_aad(self.tenant, self.collection, document_id, page_no))
        key = self._where(v.pages) & (v.pages.c.document_id == document_id) & (v.pages.c.page_no == page_no)
        with v._lock, v.engine.begin() as conn:
            conn.execute(v.pages.delete().where(key))
            conn.execute(
                v.pages.insert().values(
                    tenant=self.tenant,
                    collection=self.collection,
                    document_id=document_id,
                    page_no=page_no,
                    text_ct=sealed,
                )
            )

    def load_original_pages(self, document_id: str) -> dict[int, str]:
        """``{page number: original text}`` of a document ({} when none were kept)."""
        v = self.vault
        with v._lock, v.engine.connect() as conn:
            rows = conn.execute(
                sa.select(v.pages.c.page_no, v.pages.c.text_ct).where(
                    self._where(v.pages) & (v.pages.c.document_id == document_id)
                )
            ).all()
        return {
            r.page_no: v._keys.open(r.text_ct, _page_aad(self.tenant, self.collection, document_id, r.page_no))
            for r in rows
        }

    # introspection (tests, stats) -------------------------------------------------

    def count_entries(self, document_id: str | None = None) -> int:
        v = self.vault
        query = sa.select(sa.func.count(sa.distinct(v.entries.c.id))).where(self._where(v.entries))
        if document_id is not None:
            query = query.join(v.refs, v.refs.c.entry_id == v.entries.c.id).where(
                v.refs.c.document_id == document_id
            )
        with v.engine.connect() as conn:
            return int(conn.execute(query).scalar() or 0)


def iter_tokens(text: str) -> Iterable[str]:
    """Every pseudonym token in ``text``, in order."""
    return (m.group(0) for m in TOKEN_RE.finditer(text))
