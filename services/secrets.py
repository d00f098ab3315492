"""Operator secrets (vault key, audit key) and API key bootstrap."""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path

from pipelines.registry import KeyRow, Registry
from services.api.settings import Settings


def load_or_create_secret(configured: str | None, path: Path) -> bytes:
    """A 32-byte key given by the operator (base64 or hex), else the one generated once
    into ``path`` (mode 0600). Same rules as the vault's own keys."""
    from pipelines.anonymising.vault import load_or_create_key, parse_key

    return parse_key(configured) if configured else load_or_create_key(path)


def new_api_key() -> str:
    return "dik_" + secrets.token_urlsafe(32)


class KeyStore:
    """API keys: configured ones are (re)loaded hashed into the registry at start-up;
    lookups are cached briefly so revocation takes effect within ``ttl`` seconds."""

    def __init__(self, registry: Registry, ttl: float = 5.0):
        self.registry = registry
        self._ttl = ttl
        self._cache: dict[str, tuple[float, KeyRow | None]] = {}
        self._lock = threading.Lock()

    def bootstrap(self, settings: Settings) -> str | None:
        """Load configured keys; with none configured and none stored, create one admin key
        and return it (the caller prints it once). Returns None otherwise."""
        configured = settings.configured_keys()
        configured_hashes = set()
        for item in configured:
            row = self.registry.upsert_key(
                item.key.get_secret_value(), tenant=item.tenant, role=item.role,
                groups=item.groups, source="env",
            )
            configured_hashes.add(row.id)
        # A key removed from the configuration stops working.
        for row in self.registry.list_keys():
            if row.source == "env" and row.revoked_at is None and row.id not in configured_hashes:
                self.registry.revoke_key(row.id)
        if configured or self.registry.has_active_keys():
            return None
        raw = new_api_key()
        self.registry.upsert_key(raw, tenant="default", role="admin", groups=["*"], source="generated")
        return raw

    def create(self, *, tenant: str, role: str, groups: list[str]) -> tuple[str, KeyRow]:
        raw = new_api_key()
        return raw, self.registry.upsert_key(raw, tenant=tenant, role=role, groups=groups, source="cli")

    def lookup(self, key_hash: str) -> KeyRow | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key_hash)
            if hit and now - hit[0] < self._ttl:
                return hit[1]
        row = self.registry.key_by_hash(key_hash)
        if row is not None and row.revoked_at is not None:
            row = None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key_hash] = (now, row)
        return row
