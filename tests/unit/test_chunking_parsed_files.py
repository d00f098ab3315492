"""The chunk invariant on every parser's real output (dev documents, one per family).

``page.text[c.start:c.end] == c.text`` must hold whatever produced the page: PyMuPDF
(text layer, OCR fallback), the plain-text decoders, unstructured (Office, HTML,
e-mail), archives. Slow families (long documents, full-page OCR, EPUB) are left to
the e2e suite; set ``DOCINTEL_CHUNK_ALL_DEV_FILES=1`` to run every file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipelines.chunking import SentenceChunker
from pipelines.errors import ParseError

pytestmark = pytest.mark.slow

EVAL_DIR = Path(
    os.environ.get("DOCINTEL_EVAL_DIR")
    or Path(__file__).resolve().parents[2].parent / "shared" / "eval" / "dev"
)
MANIFEST = EVAL_DIR / "documents" / "manifest.jsonl"

SLOW_CATEGORY_PREFIXES = ("long/", "image/", "epub", "pdf/scanned-no-text-layer")


def _rows() -> list[dict]:
    if not MANIFEST.is_file():
        return []
    rows = [json.loads(line) for line in MANIFEST.read_text(encoding="utf-8").splitlines() if line.strip()]
    if os.environ.get("DOCINTEL_CHUNK_ALL_DEV_FILES"):
        return rows
    return [r for r in rows if not r["category"].startswith(SLOW_CATEGORY_PREFIXES)]


@pytest.fixture(scope="module")
def parser():
    from pipelines.parsing.document import DocumentParser

    return DocumentParser(ocr_max_pages=2)


CHUNKERS = [
    SentenceChunker(max_chars=768, overlap_chars=115, min_chars=96),  # MiniLM-sized
    SentenceChunker(max_chars=120, overlap_chars=40, min_chars=10),  # many cuts per page
]


@pytest.mark.parametrize("row", _rows() or [None], ids=lambda r: r["file"] if r else "no-dev-data")
def test_chunks_of_parsed_dev_files_keep_exact_offsets(parser, row) -> None:
    if row is None:
        pytest.skip(f"dev documents not found under {EVAL_DIR}")
    data = (EVAL_DIR / "documents" / row["file"]).read_bytes()
    try:
        parsed = parser.parse(data, filename=Path(row["file"]).name, password=row.get("password"))
    except ParseError:
        pytest.skip("the parser refuses this file (its own tests cover why)")
    pages = {page.number: page for page in parsed.pages}
    for chunker in CHUNKERS:
        chunks = chunker.chunk_document(parsed.pages)
        assert [c.index for c in chunks] == list(range(len(chunks)))
        for c in chunks:
            page = pages[c.page]
            assert page.text[c.start : c.end] == c.text
            assert c.text.strip() == c.text != ""
            assert c.bbox == page.bbox_for(c.start, c.end)
        for number, page in pages.items():
            covered = [False] * len(page.text)
            for c in (c for c in chunks if c.page == number):
                covered[c.start : c.end] = [True] * (c.end - c.start)
            assert "".join(ch for ch, hit in zip(page.text, covered) if not hit).strip() == ""
