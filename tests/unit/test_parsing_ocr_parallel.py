"""Parallel OCR of scanned PDFs (``ocr_workers``): the same pages, text, blocks, budget and
warnings as OCR one page after the other, and a parse timeout still ends every process
the OCR started. Scans are generated here: text rendered to an image, the image placed on
an otherwise empty page (no text layer)."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pytest

from pipelines.errors import CorruptDocument, LimitExceeded
from pipelines.parsing import DocumentParser, SandboxedParser

pytestmark = pytest.mark.skipif(not shutil.which("tesseract"), reason="tesseract is not installed")

# One distinct word per scanned page: finding it on its page proves OCR ran and kept the order.
WORDS = ["Ardoise", "Boussole", "Citronnier", "Dromadaire", "Escalier"]


def scanned_pdf(pages: list[str | tuple[str, str]], *, width: float = 420, height: float = 160,
                lines: int = 2) -> bytes:
    """A PDF whose pages are ``"scan:<word>"`` (an image of a few lines, no text layer),
    ``"text:<words>"`` (a normal text layer) or ``"blank-image"`` (an image of nothing)."""
    import pymupdf

    doc = pymupdf.open()
    for spec in pages:
        kind, _, word = spec.partition(":")
        page = doc.new_page(width=width, height=height)
        if kind == "text":
            page.insert_text((30, 60), word, fontsize=16)
            continue
        src = pymupdf.open()
        drawn = src.new_page(width=width, height=height)
        for line in range(lines if kind == "scan" else 0):
            drawn.insert_text((30, 50 + 28 * line), f"{word} ligne {line + 1} du constat 2025", fontsize=18)
        page.insert_image(page.rect, stream=drawn.get_pixmap(dpi=150).tobytes("png"))
    return doc.tobytes()


MIXED = ["scan:" + WORDS[0], "text:Page avec texte", "scan:" + WORDS[1], "blank-image",
         "scan:" + WORDS[2], "scan:" + WORDS[3]]


@pytest.fixture(scope="module")
def mixed_serial():
    return DocumentParser(ocr_workers=1).parse(scanned_pdf(MIXED))


@pytest.mark.slow
def test_parallel_ocr_equals_serial_ocr(mixed_serial):
    parallel = DocumentParser(ocr_workers=2).parse(scanned_pdf(MIXED))

    assert parallel == mixed_serial  # every page's text and blocks (exact floats), ocr_pages, warnings
    assert mixed_serial.ocr_pages == (1, 3, 5, 6)  # the blank image is tried but reads nothing
    assert mixed_serial.pages[1].text == "Page avec texte"
    for number, word in zip((1, 3, 5, 6), WORDS, strict=False):
        page = mixed_serial.pages[number - 1]
        assert word in page.text, (number, page.text)
        assert page.blocks and all(page.text[b.start:b.end].strip() for b in page.blocks)
        assert all(0 <= b.bbox[0] < b.bbox[2] <= 420 and 0 <= b.bbox[1] < b.bbox[3] <= 160 for b in page.blocks)


@pytest.mark.slow
@pytest.mark.parametrize(
    "ocr_max_pages, ocr_workers, expected_ocr_pages, expected_warnings",
    [
        # the budget counts pages OCR is tried on: the blank image (page 4) uses one
        (3, 2, (1, 3), ("OCR stopped after 3 pages",)),
        (2, 3, (1, 3), ("OCR stopped after 2 pages",)),
        (1, 2, (1,), ("OCR stopped after 1 pages",)),  # one page to OCR: no helper process
        (0, 2, (), ("OCR stopped after 0 pages",)),
    ],
)
def test_ocr_budget_and_warning_with_workers(ocr_max_pages, ocr_workers, expected_ocr_pages, expected_warnings,
                                             mixed_serial):
    parsed = DocumentParser(ocr_max_pages=ocr_max_pages, ocr_workers=ocr_workers).parse(scanned_pdf(MIXED))

    assert parsed.ocr_pages == expected_ocr_pages
    assert parsed.warnings == expected_warnings
    for page, serial_page in zip(parsed.pages, mixed_serial.pages, strict=True):
        if page.number in expected_ocr_pages or page.number == 2:
            assert page == serial_page
        else:
            assert page.text == "" and page.blocks == ()  # past the budget: left unread


def test_a_failing_page_is_a_clean_parse_error():
    """A helper's failure reaches the caller as a ``ParseError`` without the raw message."""
    from pipelines.parsing.ocr import ocr_pdf_pages_in_processes

    data = scanned_pdf(["scan:" + WORDS[0]])
    with pytest.raises(CorruptDocument, match=r"could not be parsed \(\w+\)"):
        # page 7 does not exist: the helper's load_page raises before any OCR
        ocr_pdf_pages_in_processes(data, [7, 8], workers=2, languages="fra+eng", dpi=72)


@pytest.mark.parametrize(
    "env, cpu_count, expected",
    [
        ({}, 8, 2),  # default: two at a time, never more than the cores
        ({}, 1, 1),
        ({}, None, 1),  # cores unknown
        ({"DOCINTEL_OCR_WORKERS": "4"}, 2, 4),
        ({"DOCINTEL_OCR_WORKERS": "0"}, 2, ValueError),
    ],
)
def test_ocr_workers_setting_reaches_the_sandbox(monkeypatch, tmp_path, env, cpu_count, expected):
    import pipelines.parsing
    from services.api import container
    from services.api.settings import Settings

    monkeypatch.delenv("DOCINTEL_OCR_WORKERS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr("os.cpu_count", lambda: cpu_count)
    if expected is ValueError:
        with pytest.raises(ValueError, match="ocr_workers"):  # pydantic's ValidationError
            Settings(data_dir=tmp_path)
        return
    built = {}
    monkeypatch.setattr(pipelines.parsing, "SandboxedParser", lambda **kwargs: built.update(kwargs))
    container._build_parser(Settings(data_dir=tmp_path))
    assert built["ocr_workers"] == expected


def _ocr_helpers(group: int) -> set[int]:
    """Live OCR helper processes (not zombies) of the process group ``group``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, _ppid, pgid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
            if (state != "Z" and int(pgid) == group
                    and b"serve_ocr_helper" in (entry / "cmdline").read_bytes()):
                found.add(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_timeout_kills_the_ocr_helpers_with_the_worker():
    # Dense pages: each takes several seconds, so the helpers are mid-OCR at the deadline.
    dense = scanned_pdf([f"scan:{word}" for word in WORDS[:4]], width=1000, height=1400, lines=45)
    sandbox = SandboxedParser(timeout_s=60, workers=1, ocr_workers=2)
    seen: set[int] = set()
    watching = threading.Event()

    try:
        sandbox.parse(scanned_pdf(["text:warm-up"]))  # start the worker (imports) outside the budget
        group = sandbox._idle.queue[0].process.pid  # the worker leads its own process group

        def watch() -> None:
            while not watching.is_set():
                seen.update(_ocr_helpers(group))
                time.sleep(0.05)

        sandbox.timeout_s = 4
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            with pytest.raises(LimitExceeded, match="longer than"):
                sandbox.parse(dense)
        finally:
            watching.set()
            watcher.join()
        assert len(seen) == 2, "the parse should have started two OCR helpers in the worker's group"
        deadline = time.monotonic() + 1  # SIGKILL of the group is immediate
        while _ocr_helpers(group) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _ocr_helpers(group), "an OCR helper outlived its killed worker"
    finally:
        sandbox.close()
