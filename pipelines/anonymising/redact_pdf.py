"""True redaction of PDFs: the text under each box is removed, not covered.

For each page: rebuild the page text from PyMuPDF's words (remembering each word's
box), detect PII on it, mark every word a detected span touches (the whole word: a
partly redacted word may leak the rest), add the other places the same value is
printed on the page (``search_for``), then ``apply_redactions``, which deletes the
text (and the overlapping image pixels) under the marks. Document metadata is
cleared and the file is rewritten with garbage collection so no orphaned content
stream keeps the old text.

Limits: pages without a text layer (scans) have nothing to detect here; their
redaction needs OCR boxes first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pipelines.errors import CorruptDocument, EncryptedDocument


@dataclass
class RedactionReport:
    pages: int = 0
    boxes: int = 0
    entities: dict[str, int] = field(default_factory=dict)


def _page_text(words: list[tuple]) -> tuple[str, list[tuple[int, int]]]:
    """The page text from its words, and each word's ``(start, end)`` in it. Words of
    a line are joined by a space, lines by a newline, blocks by a blank line."""
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    length = 0
    previous = None
    for x0, y0, x1, y1, word, block, line, _ in words:
        if previous is not None:
            sep = " " if (block, line) == previous else ("\n" if block == previous[0] else "\n\n")
            parts.append(sep)
            length += len(sep)
        spans.append((length, length + len(word)))
        parts.append(word)
        length += len(word)
        previous = (block, line)
    return "".join(parts), spans


def redact_pdf(
    data: bytes,
    detector,
    *,
    entities: Iterable[str] | None = None,
    language: str | None = None,
    password: str | None = None,
    report: RedactionReport | None = None,
) -> bytes:
    """The PDF with every detected PII value truly removed (black boxes).

    ``detector`` is a ``PiiDetector`` (``detect`` and ``detect_language``);
    ``language`` forces one language, else it is detected per page. Pass a
    ``RedactionReport`` to learn what was removed (counts only, never values).
    """
    import pymupdf

    report = report if report is not None else RedactionReport()
    try:
        doc = pymupdf.open(stream=data, filetype="pdf")
    except Exception as exc:  # PyMuPDF raises several types for broken files
        raise CorruptDocument("not a readable PDF") from exc
    try:
        if doc.needs_pass and not doc.authenticate(password or ""):
            raise EncryptedDocument("the PDF is encrypted; a password is needed")
        wanted = frozenset(entities) if entities is not None else None
        for page in doc:
            report.pages += 1
            # ligatures spelt out, as in the parsed text: "Griﬃn" is a name to the NER as "Griffin"
            words = page.get_text("words", sort=True, flags=pymupdf.TEXTFLAGS_WORDS & ~pymupdf.TEXT_PRESERVE_LIGATURES)
            text, spans = _page_text(words)
            if not text.strip():
                continue
            page_language = language or detector.detect_language(text)
            found = detector.detect(text, page_language, entities=wanted)
            rects = []
            values = set()
            for entity in found:
                report.entities[entity.type] = report.entities.get(entity.type, 0) + 1
                for (start, end), word in zip(spans, words):
                    if start < entity.end and entity.start < end:
                        rects.append(pymupdf.Rect(word[:4]))
                value = text[entity.start : entity.end]
                if "\n" not in value and len(value) >= 3:
                    values.add(value)
            for value in values:
                rects.extend(page.search_for(value))
            for rect in rects:
                page.add_redact_annot(rect, fill=(0, 0, 0))
            report.boxes += len(rects)
            if rects:
                page.apply_redactions()
        doc.set_metadata({})
        doc.del_xml_metadata()
        return doc.tobytes(garbage=4, deflate=True, clean=True)
    finally:
        doc.close()
