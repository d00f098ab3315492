"""The full ACL matrix (issue 6, acceptance 1): every key × every document × every route.

API.md: a document with ``acl_groups`` is readable only by keys holding one of them (``*``
holds them all); a document without ``acl_groups`` is readable by every key of its
tenant; a document (collection, job) a key may not read answers 404 *as if it did not
exist*, on every route; another tenant's collection or document is a 404.

How the matrix proves it:

* Each document carries secrets planted in it: a marker string in its text, its
  filename, a tag value, its id, and the ids of its jobs. For every response of every
  request, the raw bytes are searched for the secrets of every document (and job) the key
  may not read. Ids the caller itself sent are allowed back (a 404's ``instance`` echoes
  the path), every other secret never.
* A request about something hidden must answer exactly what the same request about a
  well-formed id that does not exist answers (status, content type and body, once the
  two ids are swapped for one placeholder): nobody can tell "hidden" from "missing".
* A request about something visible must work (positive controls), so the matrix cannot
  pass by answering 404 to everybody.
* ``ROUTES`` is checked against ``app.routes``: a route the table does not cover fails
  ``test_every_route_of_the_app_is_in_the_matrix``, so the matrix stays complete.

Ingestion is real (registry, embedded Qdrant in memory, chunker, sparse vectors, vault,
jobs); the embedder, parser and PII detector are the fakes of ``tests/fakes.py``. One more
test runs ask through the real default embedder and the real index with a small corpus,
so the ACL filter is proven inside the real Qdrant query (before its limit applies).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.conftest import KEYS, Api, build_test_app

# ---- who calls ----------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    name: str
    tenant: str | None  # None: no key at all
    role: str
    groups: tuple[str, ...]
    key: str | None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}

    def at_least(self, role: str) -> bool:
        rank = {"reader": 1, "writer": 2, "admin": 3}
        return self.key is not None and rank[self.role] >= rank[role]


def _from_conftest(name: str) -> Caller:
    k = KEYS[name]
    return Caller(name, k["tenant"], k["role"], tuple(k["groups"]), k["key"])


# Keys of tenant acme with the group, without it, with another group, with several; an
# admin holding '*' and one holding only another group; tenant "other" with '*' and with
# a group of the same name as acme's; and no key at all.
EXTRA_KEYS = [
    Caller("fin_reader", "acme", "reader", ("finance",), "k-acme-fin-reader-0000000"),
    Caller("legal_reader", "acme", "reader", ("legal", "sales"), "k-acme-legal-reader-00000"),
    Caller("fin_admin", "acme", "admin", ("finance",), "k-acme-fin-admin-00000000"),
    Caller("other_hr_reader", "other", "reader", ("hr",), "k-other-hr-reader-0000000"),
]
CALLERS = [*(_from_conftest(n) for n in ("admin", "writer", "reader", "hr_reader", "hr_writer", "other_admin")),
           *EXTRA_KEYS, Caller("anonymous", None, "reader", (), None)]
BY_NAME = {c.name: c for c in CALLERS}

# ---- what they may read --------------------------------------------------------------

QUESTION = "What is the quarterly bonus code?"
SCHEMA = {"type": "object", "properties": {
    "bonus_code": {"type": "string", "description": "the quarterly bonus code", "pattern": "^QBC-"}}}


@dataclass(frozen=True)
class DocSpec:
    key: str
    tenant: str
    collection: str
    acl_groups: tuple[str, ...]
    marker: str
    filename: str
    tag: str

    @property
    def text(self) -> str:
        person = " Questions go to Marie Curie." if "hr" in self.acl_groups else ""
        return (f"Quarterly bonus memo {self.key}.\n\nThe quarterly bonus code is {self.marker}. "
                f"The bonus code is valid for this quarter only.{person}\n")

    def readable_by(self, caller: Caller) -> bool:
        return caller.tenant == self.tenant and (
            not self.acl_groups or "*" in caller.groups or bool(set(self.acl_groups) & set(caller.groups)))


DOCS = [
    DocSpec("public", "acme", "docs-acme", (), "QBC-PUBLIC-5531", "memo-pub-k1.txt", "tagval-pub-k1"),
    DocSpec("hr", "acme", "docs-acme", ("hr",), "QBC-HRONLY-8842", "memo-hr-k2.txt", "tagval-hr-k2"),
    DocSpec("hr_legal", "acme", "docs-acme", ("hr", "legal"), "QBC-HRLEGAL-2290", "memo-hrlegal-k3.txt", "tagval-hrlegal-k3"),
    DocSpec("finance", "acme", "docs-acme", ("finance",), "QBC-FINANCE-6613", "memo-fin-k4.txt", "tagval-fin-k4"),
    DocSpec("other_public", "other", "docs-other", (), "QBC-OTHERPUB-4407", "memo-opub-k5.txt", "tagval-opub-k5"),
    DocSpec("other_hr", "other", "docs-other", ("hr",), "QBC-OTHERHR-1175", "memo-ohr-k6.txt", "tagval-ohr-k6"),
]
COLLECTIONS = {"docs-acme": "acme", "docs-other": "other"}
UPLOAD_EXTRACT_MARKER = "QBC-UPLOADED-3391"  # in a file hr_writer extracts from, never stored

MISSING_DOC = "doc_" + "0" * 28
MISSING_JOB = "job_" + "0" * 24
MISSING_COLLECTION = "no-such-collection"
PLACEHOLDER = "<ID>"


@dataclass
class Secret:
    """Strings that must never reach a caller who may not read their owner."""

    label: str
    visible_to: Callable[[Caller], bool]
    texts: set[str] = field(default_factory=set)  # never, even if the caller sent them
    ids: set[str] = field(default_factory=set)  # never, unless the caller sent them


@dataclass
class World:
    api: Api
    docs: dict[str, dict]  # doc key -> {"id", "job_id", "spec"}
    jobs: dict[str, tuple[str, Callable[[Caller], bool]]] = field(default_factory=dict)  # label -> (id, visible)
    secrets: list[Secret] = field(default_factory=list)
    requests: int = 0

    def call(self, caller: Caller, method: str, url: str, **kwargs):
        self.requests += 1
        return self.api.client.request(method, url, headers=caller.headers(), **kwargs)

    def doc_id(self, key: str) -> str:
        return self.docs[key]["id"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    from fastapi.testclient import TestClient

    app = build_test_app(tmp_path_factory.mktemp("acl"))
    with TestClient(app) as client:
        api = Api(client, app.state.container)
        for c in EXTRA_KEYS:
            api.container.registry.upsert_key(c.key, tenant=c.tenant, role=c.role, groups=list(c.groups),
                                              source="test")
        # Pseudonymised collections: the vault is part of what must not leak.
        api.create_collection("docs-acme", who="admin", anonymise=True)
        api.create_collection("docs-other", who="other_admin", anonymise=True)
        w = World(api, {})
        for spec in DOCS:
            who = "admin" if spec.tenant == "acme" else "other_admin"
            response = api.upload(spec.collection, [(spec.filename, spec.text.encode())], who=who,
                                  metadata={"acl_groups": list(spec.acl_groups), "tags": {"dept": spec.tag}})
            assert response.status_code == 201, response.text
            doc = response.json()["documents"][0]
            assert doc["status"] == "indexed", doc
            w.docs[spec.key] = {"id": doc["document_id"], "job_id": doc["job_id"], "spec": spec}
            w.jobs[f"ingest:{spec.key}"] = (doc["job_id"], spec.readable_by)
        # An async extraction per document (its job result holds the document's values).
        for spec in DOCS:
            who = BY_NAME["admin" if spec.tenant == "acme" else "other_admin"]
            response = w.call(who, "POST", "/v1/extract", params={"async": "true"},
                              json={"collection": spec.collection, "document_id": w.doc_id(spec.key), "schema": SCHEMA})
            assert response.status_code == 202, response.text
            job_id = response.json()["job_id"]
            assert api.container.runner.wait(job_id, timeout=30)
            result = api.container.registry.get_job(job_id).result
            assert result["data"]["bonus_code"] == spec.marker, result  # the job result does hold content
            w.jobs[f"extract:{spec.key}"] = (job_id, spec.readable_by)
        # An async extraction from an upload: no document, no ACL; its result belongs to the
        # key that asked (and to keys holding '*' in its tenant).
        hr_writer = BY_NAME["hr_writer"]
        response = w.call(hr_writer, "POST", "/v1/extract", params={"async": "true"},
                          files={"file": ("upload-q7.txt", f"The quarterly bonus code is {UPLOAD_EXTRACT_MARKER}.".encode())},
                          data={"schema": json.dumps(SCHEMA)})
        assert response.status_code == 202, response.text
        upload_job = response.json()["job_id"]
        assert api.container.runner.wait(upload_job, timeout=30)
        assert api.container.registry.get_job(upload_job).result["data"]["bonus_code"] == UPLOAD_EXTRACT_MARKER

        def owner_or_star(c: Caller) -> bool:
            return c.tenant == "acme" and (c.name == "hr_writer" or "*" in c.groups)

        w.jobs["extract:upload"] = (upload_job, owner_or_star)
        # Some history for the audit: every acme key asks once.
        for c in CALLERS:
            if c.tenant == "acme":
                assert w.call(c, "POST", "/v1/collections/docs-acme/ask", json={"question": QUESTION}).status_code == 200

        for key, doc in w.docs.items():
            spec = doc["spec"]
            job_ids = {doc["job_id"], w.jobs[f"extract:{key}"][0]}
            w.secrets.append(Secret(key, spec.readable_by, texts={spec.marker, spec.filename, spec.tag},
                                    ids={doc["id"], *job_ids}))
        w.secrets.append(Secret("extract:upload", owner_or_star, texts={UPLOAD_EXTRACT_MARKER, "upload-q7.txt"},
                                ids={upload_job}))
        # The only PII of the corpus sits in the hr documents; the vault must not reveal it.
        w.secrets.append(Secret("hr-pii", lambda c: any(d.readable_by(c) for d in DOCS if "hr" in d.acl_groups
                                                        and d.tenant == "acme"), texts={"Marie Curie"}))
        strings = [s for secret in w.secrets for s in secret.texts | secret.ids]
        assert not [(a, b) for a in strings for b in strings if a != b and a in b], "a secret inside another"
        yield w


# ---- checking one response ------------------------------------------------------------


def _request_text(url: str, kwargs: dict) -> str:
    return url + json.dumps(kwargs.get("json"), default=str) + json.dumps(kwargs.get("params"), default=str)


def leaks(w: World, caller: Caller, response, sent: str) -> list[str]:
    """The secrets of ``caller``'s invisible documents and jobs found in the response."""
    raw = response.content.decode("utf-8", errors="replace") + json.dumps(dict(response.headers))
    found = []
    for secret in w.secrets:
        if secret.visible_to(caller):
            continue
        found += [f"{secret.label}:{s!r}" for s in secret.texts if s in raw]
        found += [f"{secret.label}:id {s!r}" for s in secret.ids if s in raw and s not in sent]
    return found


_VOLATILE = re.compile(r'"(audit_id|time|created_at|updated_at)": ?"[^"]*"')


def normalised(response, hidden: str, missing: str) -> tuple:
    text = response.content.decode("utf-8", errors="replace").replace(hidden, PLACEHOLDER).replace(missing, PLACEHOLDER)
    return response.status_code, response.headers.get("content-type"), _VOLATILE.sub(r'"\1": "-"', text)


# ---- the route table --------------------------------------------------------------------
# Every (method, path) of the app, with what it is about (a document, a collection, a job,
# or the tenant as a whole) and how to call it. ``target`` is a document key, a collection
# name or a job label; ``None`` for tenant-wide routes.


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    scope: str  # "document" | "collection" | "job" | "tenant" | "public"
    role: str | None  # least role; None: no key needed
    build: Callable[[World, str | None, str], list[Call]]  # (world, target, substituted id) -> calls
    ok: tuple[int, ...] = (200,)  # statuses for a caller who may (visible target, role high enough)
    twin: bool = True  # compare a hidden target with a missing one
    destructive: bool = False  # only run on hidden targets (visible ones: see the lifecycle tests)
    note: str = ""


def _doc(w: World, target: str) -> DocSpec:
    return w.docs[target]["spec"]


def _doc_url(w, target, doc_id, suffix=""):
    return f"/v1/collections/{_doc(w, target).collection}/documents/{doc_id}{suffix}"


def _ask_calls(collection: str, body: dict) -> list[Call]:
    return [Call("POST", f"/v1/collections/{collection}/ask", {"json": body}),
            Call("POST", f"/v1/collections/{collection}/ask", {"json": {**body, "stream": True}})]


ROUTES: dict[tuple[str, str], Route] = {
    # -- documents
    ("GET", "/v1/collections/{name}/documents/{document_id}"): Route(
        "document", "reader", lambda w, t, d: [Call("GET", _doc_url(w, t, d))]),
    ("GET", "/v1/collections/{name}/documents/{document_id}/pages/{n}"): Route(
        "document", "reader", lambda w, t, d: [Call("GET", _doc_url(w, t, d, "/pages/1")),
                                               Call("GET", _doc_url(w, t, d, "/pages/99"))]),
    ("PATCH", "/v1/collections/{name}/documents/{document_id}"): Route(
        "document", "writer", lambda w, t, d: [Call("PATCH", _doc_url(w, t, d),
                                                    {"json": {"tags": {"dept": _doc(w, t).tag}}})],
        note="same tags again: exercises the route without changing the matrix"),
    ("DELETE", "/v1/collections/{name}/documents/{document_id}"): Route(
        "document", "writer", lambda w, t, d: [Call("DELETE", _doc_url(w, t, d))], ok=(204,), destructive=True),
    ("POST", "/v1/extract"): Route(
        "document", "reader", lambda w, t, d: [
            Call("POST", "/v1/extract", {"json": {"collection": _doc(w, t).collection, "document_id": d,
                                                  "schema": SCHEMA}}),
            Call("POST", "/v1/extract", {"params": {"async": "true"},
                                         "json": {"collection": _doc(w, t).collection, "document_id": d,
                                                  "schema": SCHEMA}})], ok=(200, 202),
        note="by document id, sync and ?async (the job result is read back and scanned); "
             "upload extraction: test_upload_routes_never_reveal_a_hidden_document"),
    ("POST", "/v1/collections/{name}/ask"): Route(
        "document", "reader", lambda w, t, d: _ask_calls(
            _doc(w, t).collection, {"question": QUESTION, "filters": {"document_ids": [d]}}),
        note="filtered on one document (sync and SSE); whole collection: test_ask_whole_collection"),
    ("POST", "/v1/collections/{name}/documents"): Route(
        "document", "writer", lambda w, t, d: [Call("POST", f"/v1/collections/{_doc(w, t).collection}/documents",
                                                    {"files": [("file", ("again.txt", _doc(w, t).text.encode()))],
                                                     "params": {"wait": "true"}})],
        ok=(201,), twin=False, note="the same bytes again: a duplicate (see test_upload_routes_never_reveal_a_hidden_document)"),
    # -- collections
    ("GET", "/v1/collections/{name}"): Route("collection", "reader", lambda w, t, d: [Call("GET", f"/v1/collections/{d}")]),
    ("GET", "/v1/collections/{name}/documents"): Route(
        "collection", "reader", lambda w, t, d: [Call("GET", f"/v1/collections/{d}/documents"),
                                                 Call("GET", f"/v1/collections/{d}/documents", {"params": {"status": "indexed"}})],
        note="pagination: test_document_list_pages_show_exactly_the_readable_documents"),
    ("POST", "/v1/collections/{name}/reindex"): Route(
        "collection", "admin", lambda w, t, d: [Call("POST", f"/v1/collections/{d}/reindex", {"json": {}})], ok=(202,)),
    ("DELETE", "/v1/collections/{name}"): Route(
        "collection", "admin", lambda w, t, d: [Call("DELETE", f"/v1/collections/{d}")], ok=(204,), destructive=True),
    ("POST", "/v1/deanonymise"): Route(
        "collection", "admin", lambda w, t, d: [Call("POST", "/v1/deanonymise", {"json": {"collection": d, "text": "nothing here"}})],
        note="a hidden document's pseudonyms: test_deanonymise_reveals_only_readable_documents_pseudonyms"),
    ("POST", "/v1/anonymise"): Route(
        "collection", "reader", lambda w, t, d: [Call("POST", "/v1/anonymise", {"json": {"text": "Ask Marie Curie.",
                                                                                       "operator": "redact", "collection": d}})]),
    # -- jobs
    ("GET", "/v1/jobs/{job_id}"): Route("job", "reader", lambda w, t, d: [Call("GET", f"/v1/jobs/{d}")]),
    ("DELETE", "/v1/jobs/{job_id}"): Route("job", "reader", lambda w, t, d: [Call("DELETE", f"/v1/jobs/{d}")], ok=(409, 403),
                                           note="every job has finished: 409 (or 403 below the role), hidden: 404"),
    # -- the tenant as a whole: scanned, nothing to hide behind a 404
    ("GET", "/v1/collections"): Route("tenant", "reader", lambda w, t, d: [Call("GET", "/v1/collections")]),
    ("POST", "/v1/collections"): Route("tenant", "writer", lambda w, t, d: [
        Call("POST", "/v1/collections", {"json": {"name": f"scratch-{w.requests}", "anonymise": False}})], ok=(201,)),
    ("GET", "/v1/jobs"): Route("tenant", "reader", lambda w, t, d: [
        Call("GET", "/v1/jobs", {"params": {"limit": 1000}}),
        Call("GET", "/v1/jobs", {"params": {"kind": "extract", "status": "succeeded"}})],
        note="pagination: test_job_list_pages_show_exactly_the_readable_jobs"),
    ("GET", "/v1/audit"): Route("tenant", "admin", lambda w, t, d: [
        Call("GET", "/v1/audit", {"params": {"limit": 1000}}),
        Call("GET", "/v1/audit", {"params": {"operation": "ask"}})]),
    ("GET", "/v1/models"): Route("tenant", "reader", lambda w, t, d: [Call("GET", "/v1/models")]),
    ("POST", "/v1/anonymise/document"): Route("tenant", "reader", lambda w, t, d: [
        Call("POST", "/v1/anonymise/document", {"files": {"file": ("note.txt", b"Ask Marie Curie about it.")}})],
        note="takes a file, no id: nothing stored to reveal"),
    # -- no key needed
    ("GET", "/healthz"): Route("public", None, lambda w, t, d: [Call("GET", "/healthz")]),
    ("GET", "/readyz"): Route("public", None, lambda w, t, d: [Call("GET", "/readyz")]),
    ("GET", "/metrics"): Route("public", None, lambda w, t, d: [Call("GET", "/metrics")]),
    ("GET", "/openapi.json"): Route("public", None, lambda w, t, d: [Call("GET", "/openapi.json")]),
    ("GET", "/docs"): Route("public", None, lambda w, t, d: [Call("GET", "/docs")]),
    ("GET", "/docs/oauth2-redirect"): Route("public", None, lambda w, t, d: [Call("GET", "/docs/oauth2-redirect")]),
    ("GET", "/redoc"): Route("public", None, lambda w, t, d: [Call("GET", "/redoc")]),
}


def app_routes(app) -> set[tuple[str, str]]:
    """(method, path) of every route the app serves, HEAD aside (FastAPI adds it to GETs)."""
    try:  # FastAPI >= 0.13x wraps included routers; this walks into them
        from fastapi.routing import iter_route_contexts

        routes = [rc.route for rc in iter_route_contexts(app.routes)]
    except ImportError:  # pragma: no cover - older FastAPI: app.routes is already flat
        routes = list(app.routes)
    out = set()
    for route in routes:
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                out.add((method, route.path))
    return out


def test_every_route_of_the_app_is_in_the_matrix(world):
    served = app_routes(world.api.client.app)
    assert served, "no routes found: app_routes() no longer understands this FastAPI"
    assert served - set(ROUTES) == set(), "a route is not covered by the ACL matrix: add it to ROUTES"
    assert set(ROUTES) - served == set(), "ROUTES names a route the app no longer serves"


# ---- the matrix -----------------------------------------------------------------------


def _targets(w: World, route: Route) -> list[tuple[str | None, str, str, Callable[[Caller], bool]]]:
    """(target, its id, a missing id of the same kind, who may see it)."""
    if route.scope == "document":
        return [(k, d["id"], MISSING_DOC, d["spec"].readable_by) for k, d in w.docs.items()]
    if route.scope == "collection":
        return [(name, name, MISSING_COLLECTION, lambda c, t=tenant: c.tenant == t) for name, tenant in COLLECTIONS.items()]
    if route.scope == "job":
        return [(label, job_id, MISSING_JOB, visible) for label, (job_id, visible) in w.jobs.items()]
    return [(None, "x", "x", lambda c: True)]


def _expected(route: Route, caller: Caller, visible: bool) -> tuple[int, ...] | None:
    """The statuses allowed; None when only "same as missing" is asserted (hidden targets)."""
    if route.role is None:
        return (200,)
    if caller.key is None:
        return (401,)
    if not caller.at_least(route.role):
        return (403,)
    return route.ok if visible else None


def _follow_job(w: World, caller: Caller, response) -> list:
    """An accepted job: wait for it, then read it back as the same caller (its result is
    part of what the route returns)."""
    if response.status_code != 202 or "job_id" not in response.json():
        return []
    job_id = response.json()["job_id"]
    assert w.api.container.runner.wait(job_id, timeout=60)
    return [w.call(caller, "GET", f"/v1/jobs/{job_id}")]


@pytest.mark.parametrize("route_key", list(ROUTES), ids=[f"{m} {p}" for m, p in ROUTES])
def test_acl_matrix(world, route_key):
    w, route = world, ROUTES[route_key]
    failures: list[str] = []
    twin_answers: dict[tuple, object] = {}  # a missing id answers the same for every hidden target
    for caller in CALLERS:
        for target, ident, missing, visible_to in _targets(w, route):
            visible = visible_to(caller)
            if route.destructive and visible and caller.at_least(route.role or "reader"):
                continue  # would destroy the fixture: the lifecycle tests cover it
            expected = _expected(route, caller, visible)
            calls = route.build(w, target, ident)
            with_twin = route.twin and route.scope in ("document", "collection", "job")
            twins = route.build(w, target, missing) if with_twin else [None] * len(calls)
            for call, twin in zip(calls, twins, strict=True):
                where = f"{caller.name} -> {call.method} {call.url} ({target})"
                response = w.call(caller, call.method, call.url, **call.kwargs)
                if response.status_code >= 500:
                    failures.append(f"{where}: {response.status_code}")
                followed = _follow_job(w, caller, response)
                for extra in [response, *followed]:
                    if found := leaks(w, caller, extra, _request_text(call.url, call.kwargs)):
                        failures.append(f"{where}: leaks {found}")
                allowed = expected if "pages/99" not in call.url or expected is None else (*expected, 404)
                if allowed is not None and response.status_code not in allowed:
                    failures.append(f"{where}: {response.status_code}, expected {allowed}: {response.text[:200]}")
                elif visible and route.scope == "document" and response.status_code in (200, 201, 202):
                    # Positive control: what may be read is really there.
                    spec = w.docs[target]["spec"]
                    shown = "".join(r.text for r in [response, *followed])
                    if spec.marker not in shown and spec.filename not in shown:
                        failures.append(f"{where}: a readable document's content is missing: {response.text[:200]}")
                if not visible and twin is not None:
                    twin_key = (caller.name, twin.method, twin.url, json.dumps(twin.kwargs, sort_keys=True, default=str))
                    if twin_key not in twin_answers:
                        twin_answers[twin_key] = w.call(caller, twin.method, twin.url, **twin.kwargs)
                    other = twin_answers[twin_key]
                    if normalised(response, ident, missing) != normalised(other, ident, missing):
                        failures.append(f"{where}: hidden and missing answer differently:\n"
                                        f"    hidden  {response.status_code} {response.text[:300]}\n"
                                        f"    missing {other.status_code} {other.text[:300]}")
    assert not failures, f"{len(failures)} ACL failures:\n" + "\n".join(failures)


# ---- what the route table points to --------------------------------------------------


def _readable(caller: Caller, collection: str) -> set[str]:
    return {d.key for d in DOCS if d.collection == collection and d.readable_by(caller)}


@pytest.mark.parametrize("caller", [c for c in CALLERS if c.tenant == "acme"], ids=lambda c: c.name)
def test_document_list_pages_show_exactly_the_readable_documents(world, caller):
    """Page by page (limit=1, following next_cursor): exactly the readable documents, each once."""
    w, seen, cursor = world, [], None
    for _ in range(len(DOCS) + 2):
        params = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        response = w.call(caller, "GET", "/v1/collections/docs-acme/documents", params=params)
        assert response.status_code == 200, response.text
        assert not leaks(w, caller, response, "")
        body = response.json()
        seen += [d["document_id"] for d in body["documents"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    expected = {w.doc_id(k) for k in _readable(caller, "docs-acme")}
    assert sorted(seen) == sorted(expected)


@pytest.mark.parametrize("caller", [c for c in CALLERS if c.key], ids=lambda c: c.name)
def test_job_list_pages_show_exactly_the_readable_jobs(world, caller):
    w, seen, cursor = world, set(), None
    for _ in range(200):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = w.call(caller, "GET", "/v1/jobs", params=params)
        assert response.status_code == 200, response.text
        assert not leaks(w, caller, response, "")
        seen |= {j["job_id"] for j in response.json()["jobs"]}
        cursor = response.json()["next_cursor"]
        if cursor is None:
            break
    known = {job_id: visible(caller) for job_id, visible in w.jobs.values()}
    assert {j for j, v in known.items() if v} <= seen
    assert not {j for j, v in known.items() if not v} & seen


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
@pytest.mark.parametrize("caller", [c for c in CALLERS if c.tenant], ids=lambda c: c.name)
def test_ask_whole_collection_cites_exactly_the_readable_documents(world, caller, stream):
    """Every document answers the question equally well: whatever the key may read is
    cited, nothing else is (the filter is inside the vector query)."""
    w = world
    collection = "docs-acme" if caller.tenant == "acme" else "docs-other"
    response = w.call(caller, "POST", f"/v1/collections/{collection}/ask",
                      json={"question": QUESTION, "top_k": 50, "stream": stream})
    assert response.status_code == 200, response.text
    assert not leaks(w, caller, response, "")
    if stream:
        done = [json.loads(line[len("data: "):]) for line in response.text.split("\n")
                if line.startswith("data: ")][-1]
    else:
        done = response.json()
    readable = {w.doc_id(k) for k in _readable(caller, collection)}
    owner = _point_owners(w.api, collection)
    retrieved = {owner[chunk] for chunk in w.api.container.audit.get(done["audit_id"]).details["chunk_ids"]}
    assert retrieved == readable, caller.name  # top_k=50: every readable chunk, nothing else
    cited = {c["document_id"] for c in done["citations"]}
    assert cited and cited <= readable


def _point_owners(api: Api, collection: str) -> dict[str, str]:
    """Index point id -> its document id, read from the index itself."""
    c = api.container
    alias = c.documents.index_alias(c.registry.get_collection(COLLECTIONS[collection], collection))
    return {p.id: p.payload["document_id"] for p in c.index.scroll(alias)}


@pytest.mark.parametrize("caller", ["writer", "fin_admin", "hr_writer"])
def test_upload_of_a_hidden_documents_bytes_reveals_nothing_of_it(world, caller):
    """The same bytes again are the same document (API.md): for a key that may not read
    it, the upload is refused with a 409 that names nothing of the existing document."""
    w, c = world, BY_NAME[caller]
    for doc in w.docs.values():
        spec = doc["spec"]
        if spec.tenant != "acme":
            continue
        response = w.call(c, "POST", "/v1/collections/docs-acme/documents", params={"wait": "true"},
                          files=[("file", ("mine.txt", spec.text.encode()))])
        assert not leaks(w, c, response, "")
        if spec.readable_by(c):
            assert response.status_code == 201 and response.json()["documents"][0]["duplicate"] is True
        else:
            assert response.status_code == 409, response.text
            assert response.json()["documents"] == [{"document_id": None, "filename": "mine.txt", "status": "failed",
                                                     "error": response.json()["documents"][0]["error"]}]
        assert w.api.container.registry.document_by_id(doc["id"]).acl_groups == list(spec.acl_groups)


def test_audit_shows_an_admin_only_the_records_of_documents_it_may_read(world):
    w = world
    everything = w.call(BY_NAME["admin"], "GET", "/v1/audit", params={"limit": 1000}).json()["records"]
    limited = w.call(BY_NAME["fin_admin"], "GET", "/v1/audit", params={"limit": 1000}).json()["records"]
    hidden = {w.doc_id(k) for k in ("hr", "hr_legal")}
    assert any(hidden & set(r["details"].get("document_ids") or ()) for r in everything)
    assert limited and not any(hidden & set(r["details"].get("document_ids") or ()) for r in limited)
    # A document an ask retrieved but did not cite is named in its record too.
    assert any(hidden & set(r["details"].get("chunk_document_ids") or ()) for r in everything)
    assert not any(hidden & set(r["details"].get("chunk_document_ids") or ()) for r in limited)
    assert {r["audit_id"] for r in limited} < {r["audit_id"] for r in everything}
    # A short page is filled from further back, not cut short by the filter.
    assert len(w.call(BY_NAME["fin_admin"], "GET", "/v1/audit", params={"limit": 3}).json()["records"]) == 3
    other = w.call(BY_NAME["other_admin"], "GET", "/v1/audit", params={"limit": 1000}).json()["records"]
    assert other and all(r["tenant"] == "other" for r in other)


def test_deanonymise_reveals_only_readable_documents_pseudonyms(world):
    w = world
    page = w.call(BY_NAME["admin"], "GET", _doc_url(w, "hr", w.doc_id("hr"), "/pages/1")).json()["text"]
    token = re.search(r"<PERSON_\d+>", page).group(0)
    as_star = w.call(BY_NAME["admin"], "POST", "/v1/deanonymise", json={"collection": "docs-acme", "text": token})
    assert as_star.json()["text"] == "Marie Curie"
    response = w.call(BY_NAME["fin_admin"], "POST", "/v1/deanonymise", json={"collection": "docs-acme", "text": token})
    assert "Marie Curie" not in response.text


# ---- changing who may read: PATCH and DELETE take effect at once ------------------------
# One app per test (these tests change the ACLs); a gate lets a test hold a job inside the
# parser or the embedder while it changes the ACL, to prove no stale ACL survives a race.


class Gate:
    """Holds whoever passes text containing ``marker`` until ``release`` is set."""

    def __init__(self):
        self.marker: str | None = None
        self.entered, self.release = threading.Event(), threading.Event()

    def passing(self, text: str) -> None:
        if self.marker and self.marker in text:
            self.entered.set()
            assert self.release.wait(30), "the test never released the gate"


def _gated_components(gate: Gate):
    from tests.fakes import HashingEmbedder, TextParser

    class GatedParser(TextParser):
        def parse(self, data: bytes, **kwargs):
            gate.passing(data.decode("utf-8", errors="replace"))
            return super().parse(data, **kwargs)

    class GatedEmbedder(HashingEmbedder):
        name, version = "test-hashing-gated", "1"

        def embed_documents(self, texts):
            for text in texts:
                gate.passing(text)
            return super().embed_documents(texts)

    return GatedParser(), GatedEmbedder()


@pytest.fixture
def fresh(tmp_path):
    from fastapi.testclient import TestClient

    gate = Gate()
    parser, gated_embedder = _gated_components(gate)
    app = build_test_app(tmp_path, parser=parser, extra_embedders=[gated_embedder])
    with TestClient(app) as client:
        api = Api(client, app.state.container)
        api.create_collection("c")
        yield api, gate
        gate.release.set()


def _upload(api: Api, marker: str, acl: list[str], *, wait: bool = True) -> dict:
    text = f"The quarterly bonus code is {marker}. The bonus code is valid this quarter."
    response = api.upload("c", [(f"{marker}.txt", text.encode())], metadata={"acl_groups": acl}, wait=wait)
    assert response.status_code == (201 if wait else 202), response.text
    return response.json()["documents"][0]


def _sees(api: Api, who: str, doc_id: str, marker: str) -> bool:
    """What ``who`` can reach of the document, all routes agreeing (else the test fails)."""
    ask = api.client.post("/v1/collections/c/ask", json={"question": QUESTION, "top_k": 50}, headers=api.h(who))
    get = api.client.get(f"/v1/collections/c/documents/{doc_id}", headers=api.h(who))
    listed = api.client.get("/v1/collections/c/documents", headers=api.h(who)).json()["documents"]
    views = {"ask": marker in ask.text, "get": get.status_code == 200,
             "list": doc_id in {d["document_id"] for d in listed}}
    assert len(set(views.values())) == 1, views
    return views["ask"]


def _index_acl(api: Api, doc_id: str) -> set[tuple[str, ...]]:
    c = api.container
    alias = c.documents.index_alias(c.registry.get_collection("acme", "c"))
    return {tuple(p.payload["acl_groups"]) for p in c.index.scroll(alias, document_id=doc_id)}


@pytest.mark.parametrize(
    "before, after, who, sees_before, sees_after",
    [
        ([], ["hr"], "reader", True, False),
        ([], ["hr"], "hr_reader", True, True),
        (["hr"], [], "reader", False, True),
        (["hr"], ["finance"], "hr_reader", True, False),
        (["hr"], ["finance", "sales"], "admin", True, True),  # '*' reads everything
    ],
)
def test_patch_acl_takes_effect_at_once_in_registry_index_and_every_route(fresh, before, after, who, sees_before,
                                                                          sees_after):
    api, _ = fresh
    doc = _upload(api, "QBC-PATCHED-7001", before)
    assert _sees(api, who, doc["document_id"], "QBC-PATCHED-7001") is sees_before
    response = api.client.patch(f"/v1/collections/c/documents/{doc['document_id']}", json={"acl_groups": after},
                                headers=api.h("admin"))
    assert response.status_code == 200 and response.json()["acl_groups"] == after
    assert api.container.registry.document_by_id(doc["document_id"]).acl_groups == after
    assert _index_acl(api, doc["document_id"]) == {tuple(after)}
    assert _sees(api, who, doc["document_id"], "QBC-PATCHED-7001") is sees_after


def test_patch_while_the_document_is_being_ingested_reaches_the_index(fresh):
    """The ingestion job read the ACL when it started; a PATCH before it publishes must
    still be what the published points carry."""
    api, gate = fresh
    gate.marker = "QBC-INFLIGHT-7002"
    doc = _upload(api, "QBC-INFLIGHT-7002", [], wait=False)
    assert gate.entered.wait(10)
    response = api.client.patch(f"/v1/collections/c/documents/{doc['document_id']}", json={"acl_groups": ["hr"]},
                                headers=api.h("hr_writer"))
    assert response.status_code == 200, response.text
    gate.release.set()
    assert api.container.runner.wait(doc["job_id"], timeout=30)
    assert api.container.registry.document_by_id(doc["document_id"]).status == "indexed"
    assert _index_acl(api, doc["document_id"]) == {("hr",)}
    assert not _sees(api, "reader", doc["document_id"], "QBC-INFLIGHT-7002")
    assert _sees(api, "hr_reader", doc["document_id"], "QBC-INFLIGHT-7002")


def test_patch_during_a_reindex_survives_the_swap(fresh):
    """A re-index copies each document's ACL when it rebuilds it; a PATCH after that copy
    and before the alias swap must not be lost with the old index."""
    api, gate = fresh
    first = _upload(api, "QBC-REINDEXA-7003", [])
    second = _upload(api, "QBC-REINDEXB-7004", [])
    gate.marker = "QBC-REINDEXB-7004"  # the re-index stops inside the second document
    response = api.client.post("/v1/collections/c/reindex", json={"embedder": "test-hashing-gated"},
                               headers=api.h("admin"))
    assert response.status_code == 202, response.text
    job_id = response.json()["job_id"]
    assert gate.entered.wait(10)
    for doc in (first, second):  # whichever was rebuilt first, and the one being rebuilt
        patched = api.client.patch(f"/v1/collections/c/documents/{doc['document_id']}",
                                   json={"acl_groups": ["hr"]}, headers=api.h("admin"))
        assert patched.status_code == 200
    gate.release.set()
    assert api.container.runner.wait(job_id, timeout=30)
    assert api.container.registry.get_job(job_id).status == "succeeded"
    assert api.container.registry.get_collection("acme", "c").embedder == "test-hashing-gated"
    for doc, marker in ((first, "QBC-REINDEXA-7003"), (second, "QBC-REINDEXB-7004")):
        assert _index_acl(api, doc["document_id"]) == {("hr",)}
        assert not _sees(api, "reader", doc["document_id"], marker)
        assert _sees(api, "hr_reader", doc["document_id"], marker)


def test_deleted_document_is_missing_for_everyone_and_its_jobs_only_for_their_starter(fresh):
    api, _ = fresh
    doc = _upload(api, "QBC-DELETED-7005", ["hr"])
    extract = api.client.post("/v1/extract", params={"async": "true"}, headers=api.h("hr_reader"),
                              json={"collection": "c", "document_id": doc["document_id"], "schema": SCHEMA})
    assert extract.status_code == 202
    assert api.container.runner.wait(extract.json()["job_id"], timeout=30)
    assert api.client.delete(f"/v1/collections/c/documents/{doc['document_id']}",
                             headers=api.h("hr_writer")).status_code == 204
    for who in ("admin", "hr_reader", "reader"):
        gone = api.client.get(f"/v1/collections/c/documents/{doc['document_id']}", headers=api.h(who))
        missing = api.client.get(f"/v1/collections/c/documents/{MISSING_DOC}", headers=api.h(who))
        assert normalised(gone, doc["document_id"], MISSING_DOC) == normalised(missing, doc["document_id"], MISSING_DOC)
        assert "QBC-DELETED-7005" not in api.client.post("/v1/collections/c/ask", json={"question": QUESTION},
                                                         headers=api.h(who)).text
    # The document's jobs outlive it; with no ACL left to judge by, only their starter and
    # '*' keys see them (the extraction result holds the deleted document's values).
    job = extract.json()["job_id"]
    assert api.client.get(f"/v1/jobs/{job}", headers=api.h("hr_reader")).status_code == 200
    assert api.client.get(f"/v1/jobs/{job}", headers=api.h("admin")).status_code == 200
    assert api.client.get(f"/v1/jobs/{job}", headers=api.h("hr_writer")).status_code == 404
    listed = api.client.get("/v1/jobs", headers=api.h("reader")).text
    assert job not in listed and doc["document_id"] not in listed and "QBC-DELETED-7005" not in listed


# ---- the real default embedder and the real index -----------------------------------------

REAL_DOCS = {  # the hidden one is the best answer: a filter applied after the limit would show
    "hr": (["hr"], "Salaries. The annual salary of the HR director is 148,000 euros (code SAL-HR-991)."),
    "public": ([], "Staff notice. The salary review for all staff takes place every March."),
    "finance": (["finance"], "Results. The quarterly revenue of the company reached 12 million euros."),
}


@pytest.fixture(scope="module")
def real_api(tmp_path_factory):
    """The default embedder (real weights) and embedded Qdrant; parser and PII detector
    are the fakes (plain text here)."""
    from fastapi.testclient import TestClient

    from models.registry import DEFAULT_EMBEDDER, build_embedder

    app = build_test_app(tmp_path_factory.mktemp("acl-real"), embedder=build_embedder(DEFAULT_EMBEDDER))
    with TestClient(app) as client:
        api = Api(client, app.state.container)
        api.create_collection("real")
        ids = {}
        for key, (acl, text) in REAL_DOCS.items():
            response = api.upload("real", [(f"{key}-real.txt", text.encode())], metadata={"acl_groups": acl})
            assert response.status_code == 201, response.text
            ids[key] = response.json()["documents"][0]["document_id"]
        yield api, ids


@pytest.mark.parametrize(
    "who, retrieved",
    [("admin", "hr"), ("hr_reader", "hr"), ("reader", "public"), ("hr_writer", "hr"), ("other_admin", None)],
)
def test_real_embedder_and_index_filter_inside_the_query(real_api, who, retrieved):
    """top_k=1 on the question whose best answer is the hr document: a key without hr
    still gets the best *readable* chunk, so the ACL was applied inside the Qdrant query,
    before its limit; and nothing of the hr document reaches it."""
    from pipelines.indexing.qdrant_index import point_id
    from pipelines.types import IndexFilter

    api, ids = real_api
    caller_groups = set(KEYS[who]["groups"])
    if "*" in caller_groups:
        caller_groups |= {"hr", "finance"}
    question = "What is the annual salary of the HR director?"
    for stream in (False, True):
        response = api.client.post("/v1/collections/real/ask", json={"question": question, "top_k": 1, "stream": stream},
                                   headers=api.h(who))
        if retrieved is None:  # another tenant: the collection does not exist for it
            assert response.status_code == 404
            continue
        assert response.status_code == 200, response.text
        if retrieved != "hr":
            assert "SAL-HR-991" not in response.text and "148,000" not in response.text
            assert ids["hr"] not in response.text and "hr-real.txt" not in response.text
        audit_id = re.findall(r'"audit_id": ?"([^"]+)"', response.text)[-1]
        chunks = api.container.audit.get(audit_id).details["chunk_ids"]
        readable = {point_id(ids[k], 0) for k, (acl, _) in REAL_DOCS.items() if not acl or set(acl) & caller_groups}
        assert chunks and set(chunks) <= readable, (who, chunks)
        assert chunks[0] == point_id(ids[retrieved], 0), (who, chunks)
    if retrieved is None:
        return
    # The index query itself, limit 1: the best point the filter lets through, never nothing.
    container = api.container
    embedder = container.embedder(container.registry.get_collection("acme", "real").embedder)
    hits = container.index.search(
        container.documents.index_alias(container.registry.get_collection("acme", "real")),
        dense=embedder.embed_query(question), sparse=container.sparse.encode_query(question),
        flt=IndexFilter(acl_groups=None if "*" in caller_groups else tuple(caller_groups)), limit=1)
    assert [h.payload["document_id"] for h in hits] == [ids[retrieved]]


def test_matrix_size(world):
    """Runs last in this module: how many requests the matrix made (in the -rP report)."""
    print(f"ACL matrix: {len(CALLERS)} callers x {len(DOCS)} documents x {len(ROUTES)} routes; "
          f"{world.requests} requests")
    assert world.requests > len(CALLERS) * len(ROUTES)
