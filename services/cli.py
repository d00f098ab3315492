"""``docintel`` command line.

``serve`` runs the API. Commands that touch documents (``ingest``, ``ask``, ``extract``,
``anonymise``, ``reindex``, ``collections``, ``documents``) talk to a running server over
HTTP: the server process owns the embedded index (Qdrant local mode locks its folder).
``keys`` and ``audit`` work on the registry directly. ``extract``, ``anonymise`` and
``eval`` run the pipelines in this process (they need no index).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

app = typer.Typer(help="docintel: document intelligence API and tools", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys (registry in DOCINTEL_DATA_DIR)", no_args_is_help=True)
audit_app = typer.Typer(help="Audit trail", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluations on a dataset, run in this process (no server needed)", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(eval_app, name="eval")
vault_app = typer.Typer(help="The PII vault (run with the API stopped)", no_args_is_help=True)
app.add_typer(vault_app, name="vault")

console = Console()
err = Console(stderr=True)

UrlOpt = Annotated[str, typer.Option("--url", envvar="DOCINTEL_URL", help="API base URL")]
KeyOpt = Annotated[Optional[str], typer.Option("--api-key", envvar="DOCINTEL_API_KEY", help="API key")]
DEFAULT_URL = "http://127.0.0.1:8000"

INGESTIBLE_SUFFIXES = {
    ".pdf", ".docx", ".doc", ".pptx", ".ppt", ".xlsx", ".xls", ".odt", ".rtf", ".epub", ".html", ".htm",
    ".eml", ".msg", ".md", ".txt", ".csv", ".xml", ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".heic", ".json",
}


def _client(url: str, api_key: str | None):
    import httpx

    if not api_key:
        err.print("[red]an API key is needed: --api-key or DOCINTEL_API_KEY[/red]")
        raise typer.Exit(2)
    return httpx.Client(base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {api_key}"}, timeout=600)


def _fail(response) -> None:
    try:
        body = response.json()
        message = f"{body.get('title', 'error')}: {body.get('detail', '')}"
    except ValueError:
        message = response.text[:500]
    err.print(f"[red]{response.status_code} {message}[/red]")
    raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="default DOCINTEL_HOST or 127.0.0.1")] = None,
    port: Annotated[Optional[int], typer.Option(help="default DOCINTEL_PORT or 8000")] = None,
) -> None:
    """Run the API (embedded Qdrant + SQLite under DOCINTEL_DATA_DIR unless URLs are set)."""
    import uvicorn

    from services.api.app import create_app
    from services.api.settings import Settings

    settings = Settings()
    if host:
        settings.host = host
    if port:
        settings.port = port
    console.print(f"docintel serving on http://{settings.host}:{settings.port}  (data: {settings.data_dir})")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, access_log=False,
                log_config=None, timeout_graceful_shutdown=10)


def _iter_files(paths: list[Path]):
    for path in paths:
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and not child.name.startswith(".") and child.suffix.lower() in INGESTIBLE_SUFFIXES:
                    yield child
        elif path.is_file():
            yield path
        else:
            err.print(f"[yellow]skipped {path}: not found[/yellow]")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="files or folders (recursively)")],
    collection: Annotated[str, typer.Option("--collection", "-c")],
    url: UrlOpt = DEFAULT_URL,
    api_key: KeyOpt = None,
    acl_group: Annotated[Optional[list[str]], typer.Option("--acl-group", help="repeatable")] = None,
    password: Annotated[Optional[str], typer.Option(help="password for encrypted PDFs")] = None,
) -> None:
    """Upload files to a collection and wait for each to be indexed, with a progress bar."""
    files = list(_iter_files(paths))
    if not files:
        err.print("[red]no files to ingest[/red]")
        raise typer.Exit(2)
    metadata = {"acl_groups": acl_group or []}
    if password:
        metadata["password"] = password
    results = []
    with _client(url, api_key) as client, Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console
    ) as progress:
        task = progress.add_task("ingesting", total=len(files))
        for path in files:
            progress.update(task, description=f"ingesting {path.name[:40]}")
            with path.open("rb") as fh:
                response = client.post(
                    f"/v1/collections/{collection}/documents", params={"wait": "true"},
                    files={"file": (path.name, fh)}, data={"metadata": json.dumps(metadata)},
                )
            if response.status_code in (401, 403, 404):
                progress.stop()
                _fail(response)
            body = response.json()
            item = (body.get("documents") or [{}])[0]
            results.append((path, item, body if response.status_code >= 400 else None))
            progress.advance(task)
    table = Table(title=f"ingest into '{collection}'")
    for column in ("file", "status", "pages", "chunks", "detail"):
        table.add_column(column)
    failed = 0
    for path, item, problem in results:
        status = item.get("status", "failed")
        failed += status == "failed"
        detail = ""
        if status == "failed":
            detail = ((item.get("error") or problem or {}).get("detail") or "")[:80]
        elif item.get("duplicate"):
            detail = "duplicate (already indexed)"
        table.add_row(str(path), status, str(item.get("pages", "")), str(item.get("chunks", "")), detail)
    console.print(table)
    console.print(f"{len(results) - failed} indexed, {failed} failed")
    raise typer.Exit(1 if failed == len(results) else 0)


@app.command()
def collections(url: UrlOpt = DEFAULT_URL, api_key: KeyOpt = None) -> None:
    """List the collections of the key's tenant."""
    with _client(url, api_key) as client:
        response = client.get("/v1/collections")
    if response.status_code != 200:
        _fail(response)
    table = Table()
    for column in ("name", "anonymise", "embedder", "documents", "chunks", "created_at"):
        table.add_column(column)
    for c in response.json()["collections"]:
        table.add_row(c["name"], str(c["anonymise"]), c["embedder"], str(c["documents"]), str(c["chunks"]),
                      c["created_at"])
    console.print(table)


@app.command()
def documents(collection: Annotated[str, typer.Argument()], url: UrlOpt = DEFAULT_URL, api_key: KeyOpt = None,
              status: Optional[str] = None) -> None:
    """List the documents of a collection."""
    table = Table()
    for column in ("document_id", "filename", "status", "pages", "chunks"):
        table.add_column(column)
    cursor = None
    with _client(url, api_key) as client:
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {}), **({"status": status} if status else {})}
            response = client.get(f"/v1/collections/{collection}/documents", params=params)
            if response.status_code != 200:
                _fail(response)
            body = response.json()
            for d in body["documents"]:
                table.add_row(d["document_id"], d["filename"], d["status"], str(d["pages"]), str(d["chunks"]))
            cursor = body.get("next_cursor")
            if not cursor:
                break
    console.print(table)


@app.command()
def ask(
    question: Annotated[str, typer.Argument()],
    collection: Annotated[str, typer.Option("--collection", "-c")],
    url: UrlOpt = DEFAULT_URL,
    api_key: KeyOpt = None,
    top_k: int = 8,
    generator: str = "extractive",
) -> None:
    """Ask a question; prints the answer with numbered sources."""
    with _client(url, api_key) as client:
        response = client.post(f"/v1/collections/{collection}/ask",
                               json={"question": question, "top_k": top_k, "generator": generator})
    if response.status_code != 200:
        _fail(response)
    body = response.json()
    if body["abstained"]:
        console.print(f"[yellow]{body['answer']}[/yellow]")
        return
    for sentence in body["sentences"]:
        marks = "".join(f"[{i}]" for i in sentence["citation_ids"])
        console.print(f"{sentence['text']} [bold cyan]{marks}[/bold cyan]")
    console.print()
    for c in body["citations"]:
        console.print(f"[bold cyan][{c['id']}][/bold cyan] {c['filename']}, page {c['page']}, "
                      f"chars {c['start']}-{c['end']}: \"{c['quote'][:160]}\"")


def _local_parse(path: Path, password: str | None):
    from pipelines.parsing import SandboxedParser

    parser = SandboxedParser()
    try:
        return parser.parse(path.read_bytes(), filename=path.name, password=password)
    finally:
        parser.close()


@app.command()
def extract(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    schema: Annotated[Path, typer.Option("--schema", exists=True, dir_okay=False, help="JSON Schema file")],
    password: Optional[str] = None,
) -> None:
    """Extract a JSON Schema's fields from a file (offline, in this process); prints the
    API answer as JSON."""
    from pipelines.errors import DocintelError
    from pipelines.extract import build_extractor
    from pipelines.extraction.ner import SpacyEntityRecognizer

    try:
        schema_obj = json.loads(schema.read_text(encoding="utf-8"))
        parsed = _local_parse(file, password)
        result = build_extractor(ner=SpacyEntityRecognizer()).extract(list(parsed.pages), schema_obj)
    except (DocintelError, json.JSONDecodeError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    console.print_json(json.dumps(result.to_dict(), ensure_ascii=False))


@app.command()
def anonymise(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="default: FILE.redacted.pdf|txt")] = None,
    operator: Annotated[str, typer.Option(help="redact | mask | hash | pseudonymise (text output)")] = "redact",
) -> None:
    """Redact a file offline: a PDF comes back with the PII truly removed, other formats
    as anonymised text."""
    from models.pii import build_nlp_engine
    from pipelines.anonymising import Anonymiser, PiiDetector
    from pipelines.errors import DocintelError
    from pipelines.parsing import sniff_media_type

    data = file.read_bytes()
    with console.status("loading PII models"):
        detector = PiiDetector(build_nlp_engine())
    try:
        if sniff_media_type(data, file.name) == "application/pdf" and operator == "redact":
            from pipelines.anonymising.redact_pdf import redact_pdf

            out_bytes = redact_pdf(data, detector)
            output = output or file.with_suffix(".redacted.pdf")
        else:
            anonymiser = Anonymiser(detector)
            pages = _local_parse(file, None).pages
            out_bytes = "\f".join(anonymiser.anonymise(p.text, operator=operator).text for p in pages).encode()
            output = output or file.with_suffix(".redacted.txt")
    except DocintelError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    output.write_bytes(out_bytes)
    console.print(f"wrote {output}")


_PASSTHROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


@eval_app.command("qa", context_settings=_PASSTHROUGH)
def eval_qa(ctx: typer.Context, dataset: Annotated[Path, typer.Option()] = Path("../shared/eval/dev/qa")) -> None:
    """Grounded Q&A: retrieval recall@k, answer accuracy, citation precision, abstention
    (options of ``python -m pipelines.eval.qa --help`` pass through)."""
    from pipelines.eval.qa import main as qa_main

    raise typer.Exit(qa_main(["--dataset", str(dataset), *ctx.args]))


@eval_app.command("extraction", context_settings=_PASSTHROUGH)
def eval_extraction(ctx: typer.Context,
                    dataset: Annotated[Path, typer.Option()] = Path("../shared/eval/dev/extraction")) -> None:
    """Extraction: field-level P/R/F1 per schema (Kleister metric for NDAs), citation validity."""
    from pipelines.eval.extraction import main as extraction_main

    raise typer.Exit(extraction_main(["--dataset", str(dataset), *ctx.args]))


@eval_app.command("pii")
def eval_pii(
    dataset: Annotated[Path, typer.Option()] = Path("../shared/eval/dev/pii"),
    french_structured: Annotated[bool, typer.Option(help="also our French identifier set (tests/data)")] = True,
) -> None:
    """PII detection: precision, recall, F2 and leak rate per entity type, source and language."""
    from models.pii import build_nlp_engine
    from pipelines.anonymising import PiiDetector
    from pipelines.eval.pii import evaluate_pii, format_report

    sources: list[Path] = [dataset] if dataset.exists() else []
    local = Path(__file__).resolve().parents[1] / "tests" / "data"
    if french_structured:
        sources += sorted(local.glob("pii_fr_structured*.jsonl"))
    if not sources:
        err.print(f"[red]no dataset at {dataset}[/red]")
        raise typer.Exit(2)
    with console.status("loading PII models"):
        detector = PiiDetector(build_nlp_engine())
    files = [f for src in sources for f in ([src] if src.is_file() else sorted(src.glob("*.jsonl")))]
    console.print(format_report(evaluate_pii(files, detector)))


# ---- backup and restore (offline: the API stopped) ------------------------------------


def _byte_progress():
    from rich.progress import DownloadColumn, TransferSpeedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeElapsedColumn(), console=console)


@app.command()
def backup(
    dest: Annotated[Path, typer.Argument(help="a new (or empty) folder")],
    include_keys: Annotated[bool, typer.Option(
        "--include-keys", help="also copy the vault and audit keys (whoever has the backup can then re-identify)")] = False,
) -> None:
    """Back up the registry, audit trail and head checkpoint, vault, embedded index and
    spool into DEST with a manifest (sizes, sha256, versions). The API must be stopped."""
    from services.api.settings import Settings
    from services.backup import create_backup

    result = _with_byte_progress("backup", lambda progress: create_backup(
        Settings(), dest, include_keys=include_keys, progress=progress))
    for warning in result.warnings:
        err.print(f"[yellow]{warning}[/yellow]")
    files = result.manifest["files"]
    console.print(f"backup written to {result.path}: {len(files)} files, "
                  f"{sum(f['size'] for f in files.values())} bytes, parts {result.manifest['parts']}")


def _with_byte_progress(label: str, run):
    """``run(progress)`` under a rich progress bar fed by ``progress(what, done, total)``;
    a ``MaintenanceError`` (API running, damaged backup...) is printed and exits 1."""
    from services.maintenance import MaintenanceError

    try:
        with _byte_progress() as bar:
            task = bar.add_task(label, total=None)
            return run(lambda what, done, total: bar.update(
                task, description=f"{label} {what}", completed=done, total=total))
    except MaintenanceError as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None


@app.command()
def restore(
    src: Annotated[Path, typer.Argument(exists=True, file_okay=False, help="a folder written by docintel backup")],
    force: Annotated[bool, typer.Option("--force", help="move a non-empty data dir aside instead of refusing")] = False,
) -> None:
    """Restore a backup into DOCINTEL_DATA_DIR after checking its manifest (a damaged
    backup is refused) and that the keys in use open it. The API must be stopped."""
    from services.api.settings import Settings
    from services.backup import restore_backup

    result = _with_byte_progress("restore", lambda progress: restore_backup(
        Settings(), src, force=force, progress=progress))
    for path in result.moved_aside:
        console.print(f"moved aside: {path}")
    console.print(f"restored {len(result.manifest['files'])} files from {src} "
                  f"(made {result.manifest['created_at']}, docintel {result.manifest['versions']['docintel']})")


# ---- keys and audit (registry) ------------------------------------------------------


def _registry():
    from pipelines.registry import Registry
    from services.api.settings import Settings

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return settings, Registry.from_url(settings.resolved_database_url)


def _audit_log(settings, registry):
    from pipelines.audit import AuditLog
    from services.secrets import load_or_create_secret

    key = load_or_create_secret(settings.audit_key.get_secret_value() if settings.audit_key else None,
                                settings.data_dir / "audit.key")
    return AuditLog(registry.engine, key, settings.data_dir / "audit.head")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option()],
    role: Annotated[str, typer.Option(help="reader | writer | admin")],
    group: Annotated[Optional[list[str]], typer.Option("--group", help="ACL group, repeatable")] = None,
) -> None:
    """Create a key; it is printed once and stored hashed."""
    from services.secrets import KeyStore

    if role not in ("reader", "writer", "admin"):
        err.print("[red]role must be reader, writer or admin[/red]")
        raise typer.Exit(2)
    settings, registry = _registry()
    raw, row = KeyStore(registry).create(tenant=tenant, role=role, groups=group or [])
    _audit_log(settings, registry).record("key_change", tenant=tenant, key_id=None, action="create",
                                          target_key=row.id, role=role)
    console.print(f"key id {row.id} (tenant {tenant}, role {role}, groups {group or []})")
    console.print(f"[bold]{raw}[/bold]  <- store it now, it will not be shown again")


@keys_app.command("list")
def keys_list() -> None:
    """List keys (ids, never the keys themselves)."""
    _, registry = _registry()
    table = Table()
    for column in ("id", "tenant", "role", "groups", "source", "created_at", "revoked_at"):
        table.add_column(column)
    for row in registry.list_keys():
        table.add_row(row.id, row.tenant, row.role, ",".join(row.groups), row.source, str(row.created_at),
                      str(row.revoked_at or ""))
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument()]) -> None:
    """Revoke a key by id (takes effect within seconds on a running server)."""
    settings, registry = _registry()
    if not registry.revoke_key(key_id):
        err.print(f"[red]no active key {key_id}[/red]")
        raise typer.Exit(1)
    _audit_log(settings, registry).record("key_change", tenant=None, key_id=None, action="revoke", target_key=key_id)
    console.print(f"revoked {key_id}")


@audit_app.command("verify")
def audit_verify() -> None:
    """Check the audit chain; names every altered, inserted or removed record."""
    settings, registry = _registry()
    problems = _audit_log(settings, registry).verify()
    if not problems:
        console.print("[green]audit chain intact[/green]")
        return
    for problem in problems:
        err.print(f"[red]record {problem.seq} ({problem.audit_id or '-'}): {problem.reason}[/red]")
    raise typer.Exit(1)


@audit_app.command("purge")
def audit_purge(
    older_than_days: Annotated[Optional[int], typer.Option(
        min=1, help="default: DOCINTEL_AUDIT_RETENTION_DAYS (183)")] = None,
) -> None:
    """Delete audit records older than the retention period now (the API also does it
    daily); the chain stays verifiable."""
    settings, registry = _registry()
    days = older_than_days or settings.audit_retention_days
    log = _audit_log(settings, registry)
    purged = log.purge_older_than(days)
    console.print(f"purged {purged} audit record(s) older than {days} days")
    problems = log.verify()
    if problems:
        err.print(f"[red]the audit chain does not verify ({len(problems)} problem(s)): run `docintel audit verify`[/red]")
        raise typer.Exit(1)


@audit_app.command("replay")
def audit_replay(
    audit_id: Annotated[str, typer.Argument()],
    question: Annotated[str, typer.Option("--question", "-q", help="the question asked (only its hash was recorded)")],
) -> None:
    """Re-run a recorded ask over the recorded chunks with the recorded generator and
    compare the answer hash: prints match or mismatch and why. Needs the index: stop the
    API first when it is the embedded one."""
    from services.api.container import Container
    from services.api.settings import Settings
    from services.replay import ReplayRefused, replay_ask

    settings = Settings()
    try:
        container = Container.offline(settings)
    except RuntimeError as exc:  # Qdrant local mode: the folder is locked by a running server
        err.print(f"[red]cannot open the index: {exc} Stop the API, or use a Qdrant server.[/red]")
        raise typer.Exit(1) from None
    try:
        with console.status("replaying"):
            report = replay_ask(container, container.audit, audit_id, question)
    except ReplayRefused as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    finally:
        container.close()
    colour = "green" if report.match else "red"
    console.print(f"[{colour}]{report.verdict}[/{colour}] {audit_id}: recorded answer {report.recorded_answer_hash[:16]}, "
                  f"replayed {(report.replayed_answer_hash or 'none')[:16]}")
    for reason in report.reasons:
        console.print(f"  - {reason}")
    raise typer.Exit(0 if report.match else 1)


@vault_app.command("rotate-key")
def vault_rotate_key(
    new_key_file: Annotated[Optional[Path], typer.Option(
        exists=True, dir_okay=False, help="the new key (base64 or hex, 32 bytes); default: generated")] = None,
) -> None:
    """Re-encrypt every vault entry, original page and spooled upload under a new key, in
    one transaction; the old key no longer opens the vault. The API must be stopped."""
    from pipelines.anonymising.vault import VaultKeyError, parse_key
    from services.maintenance import MaintenanceError
    from services.vault_rotation import rotate_vault_key

    settings, registry = _registry()
    try:
        new = parse_key(new_key_file.read_bytes()) if new_key_file else None
        with console.status("re-encrypting the vault"):
            result = rotate_vault_key(settings, new)
    except (MaintenanceError, VaultKeyError) as exc:
        err.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    _audit_log(settings, registry).record("key_change", tenant=None, key_id=None, action="rotate_vault_key",
                                          entries=result.entries, pages=result.pages)
    if result.resumed:
        console.print("finished a rotation that was interrupted; the new key is now current")
    else:
        console.print(f"re-encrypted {result.entries} vault entries, {result.pages} original pages, "
                      f"{result.spool_files} spooled uploads")
    if result.key_file is not None:
        console.print(f"the new key is in {result.key_file}; the old one no longer opens the vault")
    else:
        console.print("[bold]now put the new key in DOCINTEL_VAULT_KEY[/bold] (the API refuses the old one)")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
