"""Parsing on small files the tests generate: media type from the bytes, pages, exact
block offsets, chunk offsets, and clean domain errors for bad input."""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage

import pytest

from pipelines.chunking import SentenceChunker
from pipelines.errors import CorruptDocument, EmptyDocument, EncryptedDocument, LimitExceeded, UnsupportedMediaType
from pipelines.parsing import DocumentParser, SandboxedParser, sniff_media_type
from pipelines.parsing import sniff as mt


def pdf_bytes(pages: list[str], *, password: str | None = None, rotate: int = 0) -> bytes:
    import pymupdf

    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page()
        page.insert_textbox(pymupdf.Rect(50, 50, 550, 400), text, fontsize=11)
        if rotate:
            page.set_rotation(rotate)
    kwargs = {}
    if password:
        kwargs = dict(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw=password, owner_pw=password + "-owner")
    data = doc.tobytes(**kwargs)
    doc.close()
    return data


def image_only_pdf() -> bytes:
    import pymupdf

    src = pymupdf.open()
    page = src.new_page(width=400, height=200)
    page.insert_text((30, 100), "Scanned claim 2025", fontsize=28)
    png = page.get_pixmap(dpi=150).tobytes("png")
    doc = pymupdf.open()
    doc.new_page(width=400, height=200).insert_image(pymupdf.Rect(0, 0, 400, 200), stream=png)
    return doc.tobytes()


def docx_bytes(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Item", "Amount"
    table.cell(1, 0).text, table.cell(1, 1).text = "Repair", "1 250,00 €"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def eml_bytes() -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.org", "b@example.org", "Sinistre 42"
    msg.set_content("Bonjour, veuillez trouver la déclaration de sinistre.")
    return msg.as_bytes()


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


CASES = [
    # (builder, wrong filename on purpose, expected media type, expected pages, expected substring)
    (lambda: pdf_bytes(["First page text.", "Second page text."]), "x.txt", mt.PDF, 2, "Second page"),
    (lambda: pdf_bytes(["Rotated page text."], rotate=90), "r.pdf", mt.PDF, 1, "Rotated page"),
    (lambda: docx_bytes(["Déclaration de sinistre", "Montant total"]), "a.pdf", mt.DOCX, 1, "Montant total"),
    (lambda: "<html><body><p>Bonjour <b>monde</b></p><script>evil()</script></body></html>".encode(),
     "page.txt", mt.HTML, 1, "Bonjour"),
    (lambda: "Texte accentué: éàü".encode("utf-16"), "f.txt", mt.TEXT, 1, "accentué"),
    (lambda: "Texte accentué: éàü".encode("utf-16-be"), "f.txt", mt.TEXT, 1, "accentué"),
    (lambda: "Café crème à 3€".encode("cp1252"), "f.txt", mt.TEXT, 1, "Café crème"),
    (lambda: b'name,amount\n"Dupont, Jean",12\n', "data.csv", mt.CSV, 1, "Dupont, Jean"),
    (lambda: b"# Title\n\n```html\n<body>x</body>\n```\n", "notes.md", mt.MARKDOWN, 1, "# Title"),
    (lambda: "Page one\fPage two".encode(), "two.txt", mt.TEXT, 2, "Page two"),
    (eml_bytes, "mail.bin", mt.EML, 1, "déclaration de sinistre"),
    (lambda: b'<?xml version="1.0"?><root><item>Valeur un</item><item>deux</item></root>', "f.xml", mt.XML, 1,
     "Valeur un"),
    (lambda: zip_of({"b.txt": b"second member", "a.txt": b"first member"}), "bundle.zip", mt.ZIP, 2, "first member"),
]


@pytest.fixture(scope="module")
def parser():
    return DocumentParser(ocr_max_pages=2)


@pytest.mark.parametrize("build, filename, media_type, n_pages, needle", CASES)
def test_formats_pages_and_offsets(parser, build, filename, media_type, n_pages, needle):
    data = build()
    assert sniff_media_type(data, filename) == media_type
    doc = parser.parse(data, filename=filename)
    assert doc.media_type == media_type
    assert len(doc.pages) == n_pages
    assert needle in "\n".join(p.text for p in doc.pages)
    for page in doc.pages:
        for block in page.blocks:
            assert 0 <= block.start <= block.end <= len(page.text)
    chunker = SentenceChunker(max_chars=60, overlap_chars=15)
    for chunk in chunker.chunk_document(doc.pages):
        assert doc.pages[chunk.page - 1].text[chunk.start:chunk.end] == chunk.text


def test_pdf_blocks_carry_exact_text_and_boxes(parser):
    doc = parser.parse(pdf_bytes(["Alpha beta gamma.\n\nDelta epsilon."]))
    page = doc.pages[0]
    assert page.blocks
    for block in page.blocks:
        assert page.text[block.start:block.end].strip() == page.text[block.start:block.end]
        x0, y0, x1, y1 = block.bbox
        assert x0 < x1 and y0 < y1


@pytest.mark.parametrize(
    "data, filename, error",
    [
        (b"", "empty.pdf", EmptyDocument),
        (b"   \n\t ", "blank.txt", EmptyDocument),
        (b"%PDF-1.7\n garbage that is not a pdf at all", "broken.pdf", CorruptDocument),
        (b"ID3\x03\x00\x00\x00" + bytes(200), "song.pdf", UnsupportedMediaType),
        (bytes(range(256)) * 20, "blob.docx", UnsupportedMediaType),
        (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><r>&b;</r>',
         "bomb.xml", CorruptDocument),
    ],
)
def test_bad_input_raises_domain_errors(parser, data, filename, error):
    with pytest.raises(error):
        parser.parse(data, filename=filename)


def test_encrypted_pdf_needs_the_right_password(parser):
    data = pdf_bytes(["Confidential claim."], password="s3cret")
    with pytest.raises(EncryptedDocument, match="password"):
        parser.parse(data)
    with pytest.raises(EncryptedDocument, match="wrong"):
        parser.parse(data, password="nope")
    assert "Confidential" in parser.parse(data, password="s3cret").pages[0].text


def test_zip_bomb_is_refused_before_inflating(parser):
    bomb = zip_of({"word/document.xml": b"0" * 50_000_000, "[Content_Types].xml": b"<Types/>"})
    assert sniff_media_type(bomb) == mt.DOCX
    with pytest.raises(LimitExceeded):
        parser.parse(bomb, filename="bomb.docx")


def test_pdf_page_limit(parser):
    with pytest.raises(LimitExceeded):
        DocumentParser(max_pages=2).parse(pdf_bytes(["a", "b", "c"]))


@pytest.mark.slow
def test_scanned_pdf_is_ocred(parser):
    doc = parser.parse(image_only_pdf())
    assert doc.ocr_pages == (1,)
    assert "Scanned" in doc.pages[0].text or "claim" in doc.pages[0].text.lower()


def test_sandbox_survives_crash_timeout_and_memory_bombs():
    sandbox = SandboxedParser(timeout_s=20, memory_mb=1024, workers=1)
    try:
        ok = pdf_bytes(["Hello sandbox."])
        assert "Hello sandbox" in sandbox.parse(ok).pages[0].text
        # the worker is killed under it: a clean error, and the next parse works
        worker = sandbox._idle.queue[0]
        worker.process.kill()
        worker.process.join()
        assert "Hello sandbox" in sandbox.parse(ok).pages[0].text
        with pytest.raises(EmptyDocument):
            sandbox.parse(b"   ")
        assert "Hello sandbox" in sandbox.parse(ok).pages[0].text
    finally:
        sandbox.close()


def test_sandbox_time_limit():
    slow = SandboxedParser(timeout_s=0.5, workers=1)
    try:
        # a huge text file takes longer than half a second to decode and split on this machine
        with pytest.raises(LimitExceeded, match="longer than"):
            big = ("word " * 2_000_000 + "\f") * 20
            slow.parse(big.encode("utf-16"), filename="big.txt")
        assert slow.parse(b"fine now", filename="a.txt").pages[0].text == "fine now"
    finally:
        slow.close()
