"""PDF text spells typographic ligatures out: a PDF printing "proﬁt" with the glyph
U+FB01 (as LaTeX and most typesetters do) is read "profit", both when it is parsed for
the index and when its PII is redacted."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pipelines.anonymising.redact_pdf import redact_pdf
from pipelines.parsing.pdf import PyMuPDFParser

# byte of the PDF string -> the ligature the font's ToUnicode map gives it
_LIGATURES = {1: "FB01", 2: "FB00", 3: "FB03"}  # ﬁ, ﬀ, ﬃ


def pdf_with_ligatures(line: bytes) -> bytes:
    """One page printing ``line`` in Helvetica, whose bytes 0x01-0x03 extract as the
    ligatures ﬁ, ﬀ and ﬃ (a ToUnicode map, as typesetters write it)."""
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page()
    pairs = b" ".join(b"<%02X> <%s>" % (code, uni.encode()) for code, uni in _LIGATURES.items())
    cmap = doc.get_new_xref()
    doc.update_object(cmap, "<<>>")
    doc.update_stream(cmap, b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Lig def "
                      b"1 begincodespacerange <00> <FF> endcodespacerange "
                      b"%d beginbfchar %s endbfchar endcmap CMapName currentdict /CMap defineresource pop end end"
                      % (len(_LIGATURES), pairs))
    font = doc.get_new_xref()
    doc.update_object(font, f"<</Type/Font/Subtype/Type1/BaseFont/Helvetica/ToUnicode {cmap} 0 R>>")
    doc.xref_set_key(page.xref, "Resources", f"<</Font<</F1 {font} 0 R>>>>")
    contents = doc.get_new_xref()
    doc.update_object(contents, "<<>>")
    escaped = line.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    doc.update_stream(contents, b"BT /F1 12 Tf 72 700 Td (" + escaped + b") Tj ET")
    doc.xref_set_key(page.xref, "Contents", f"{contents} 0 R")
    return doc.tobytes()


@pytest.mark.parametrize(("printed", "text"), [
    (b"net pro\x01t of the year", "net profit of the year"),
    (b"di\x02erent e\x03cient o\x03ce", "different efficient office"),
    (b"no ligature here", "no ligature here"),
])
def test_parsed_pdf_text_spells_ligatures_out(printed, text):
    (page,) = PyMuPDFParser().parse(pdf_with_ligatures(printed)).pages
    assert page.text == text
    assert [(b.start, b.end) for b in page.blocks] == [(0, len(text))]


@dataclass
class _Found:
    type: str
    start: int
    end: int


class _NameDetector:
    """Finds the name "Griffin" written out, as a NER would; a ligature glyph inside it
    would hide it."""

    def detect_language(self, text: str) -> str:
        return "en"

    def detect(self, text: str, language: str, entities=None) -> list[_Found]:
        at = text.find("Griffin")
        return [] if at < 0 else [_Found("PERSON", at, at + len("Griffin"))]


def test_redaction_finds_a_name_printed_with_a_ligature():
    redacted = redact_pdf(pdf_with_ligatures(b"Claim filed by Mr Gri\x03n on Monday"), _NameDetector())
    (page,) = PyMuPDFParser().parse(redacted).pages
    assert "Gri" not in page.text
    assert "Claim" in page.text and "Monday" in page.text
