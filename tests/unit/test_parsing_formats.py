"""More formats and hostile input for ``DocumentParser`` (files generated here).

Rows are (builder, filename, expected media type, expected pages, expected substring)
or (builder, filename, expected domain error): a damaged, truncated or disguised file
always ends in a ``ParseError`` subclass whose message is safe to show, never another
exception.
"""

from __future__ import annotations

import io
import os
import time
import zipfile
from pathlib import Path

import pytest

from pipelines.errors import (
    CorruptDocument,
    EmptyDocument,
    EncryptedDocument,
    LimitExceeded,
    ParseError,
    UnsupportedMediaType,
)
from pipelines.parsing import DocumentParser, sniff_media_type
from pipelines.parsing import sniff as mt


def pdf_bytes(pages: list[str]) -> bytes:
    import pymupdf

    doc = pymupdf.open()
    for text in pages:
        doc.new_page().insert_textbox(pymupdf.Rect(50, 50, 550, 400), text, fontsize=11)
    return doc.tobytes()


def docx_bytes(text: str, table: list[list[str]] | None = None) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def pptx_bytes(slides: list[str]) -> bytes:
    from pptx import Presentation

    deck = Presentation()
    for text in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = text
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def xlsx_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def encrypted_docx(text: str, password: str) -> bytes:
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(docx_bytes(text))).encrypt(password, out)
    return out.getvalue()


def utf16_email() -> bytes:
    return (
        "From: a@example.org\nTo: b@example.org\nSubject: Relevé de sinistre\n"
        "Content-Type: text/plain; charset=utf-8\n\nMontant réclamé : 1 250 €\n"
    ).encode("utf-16")


def office_xml_with_entities() -> bytes:
    """A DOCX whose document.xml declares a billion-laughs style entity."""
    good = zipfile.ZipFile(io.BytesIO(docx_bytes("placeholder")))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as evil:
        for info in good.infolist():
            data = good.read(info)
            if info.filename == "word/document.xml":
                entities = '<!ENTITY a "aaaaaaaaaa">' + "".join(
                    f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(8)
                )
                data = data.replace(b"?>", b"?><!DOCTYPE w:document [" + entities.encode() + b"]>", 1)
                data = data.replace(b"placeholder", b"&i;")
            evil.writestr(info, data)
    return out.getvalue()


FORMATS = [
    # tables read one line per row, cells separated by " | "
    (lambda: docx_bytes("Sinistres", [["Numéro", "Montant"], ["S-42", "1 250 €"]]), "t.docx", mt.DOCX, 1,
     "Numéro | Montant\nS-42 | 1 250 €"),
    # an empty cell is left out: a column header row is narrower than the rows under it
    (lambda: docx_bytes("Bilan", [["", "2024", "2023"], ["Primes", "4 210", "3 980"]]), "b.docx", mt.DOCX, 1,
     "Bilan\n\n2024 | 2023\nPrimes | 4 210 | 3 980"),
    (lambda: pptx_bytes(["Déclaration de sinistre", "Expertise"]), "deck.pdf", mt.PPTX, 2, "Expertise"),
    (lambda: xlsx_bytes({"Sinistres": [["Numéro", "Montant"], ["S-42", 1250]], "Primes": [["Prime", 90]]}),
     "book.txt", mt.XLSX, 2, "S-42"),
    (lambda: encrypted_docx("Chiffres confidentiels", "s3cret"), "locked.docx", mt.ENCRYPTED_OFFICE, 1,
     "Chiffres confidentiels"),
    (utf16_email, "mail.txt", mt.EML, 1, "Montant réclamé"),
    (lambda: b"{\\rtf1\\ansi{\\fonttbl\\f0 Arial;}\\f0 Contrat num\\'e9ro 7\\par}", "c.doc", mt.RTF, 1, "Contrat"),
]


@pytest.fixture(scope="module")
def parser():
    return DocumentParser(ocr_max_pages=1)


@pytest.mark.parametrize("build, filename, media_type, n_pages, needle", FORMATS)
def test_more_formats(parser, build, filename, media_type, n_pages, needle):
    data = build()
    assert sniff_media_type(data, filename) == media_type
    doc = parser.parse(data, filename=filename, password="s3cret")
    assert len(doc.pages) == n_pages
    assert needle in "\n".join(p.text for p in doc.pages)


def test_email_subject_is_part_of_the_text(parser):
    assert "Relevé de sinistre" in parser.parse(utf16_email()).pages[0].text


@pytest.mark.parametrize("password, message", [(None, "metadata.password"), ("wrong", "wrong")])
def test_encrypted_office_file_without_the_right_password(parser, password, message):
    with pytest.raises(EncryptedDocument, match=message):
        parser.parse(encrypted_docx("secret", "s3cret"), password=password)


HOSTILE = [
    (lambda: b"", "empty.docx", EmptyDocument),
    (lambda: pdf_bytes(["Truncated"])[:200], "cut.pdf", ParseError),
    (lambda: docx_bytes("Truncated")[:1500], "cut.docx", ParseError),
    (lambda: pptx_bytes(["Truncated"])[:3000], "cut.pptx", ParseError),
    (lambda: b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600), "fake.doc", UnsupportedMediaType),
    (lambda: b"PK\x03\x04" + os.urandom(300), "fake.xlsx", ParseError),
    (lambda: b"MZ\x90\x00" + bytes(500), "invoice.pdf", UnsupportedMediaType),
    (lambda: "  \n\t\u3000 ".encode("utf-16"), "blank.txt", EmptyDocument),
    (office_xml_with_entities, "laughs.docx", ParseError),
    (lambda: b"\x89PNG\r\n\x1a\n" + bytes(100), "broken.png", ParseError),
]


@pytest.mark.parametrize("build, filename, error", HOSTILE)
def test_hostile_input_ends_in_a_domain_error(parser, tmp_path, monkeypatch, build, filename, error):
    monkeypatch.chdir(tmp_path)  # anything written to the working directory would show up here
    with pytest.raises(error) as caught:
        parser.parse(build(), filename=filename)
    assert str(caught.value)
    assert list(Path(tmp_path).iterdir()) == []


def test_page_limit_applies_to_office_pages():
    with pytest.raises(LimitExceeded):
        DocumentParser(max_pages=2).parse(pptx_bytes(["a", "b", "c"]))


def test_xml_external_entity_is_not_fetched(parser):
    xxe = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>'
    with pytest.raises(CorruptDocument):
        parser.parse(xxe, filename="x.xml")


@pytest.mark.slow
@pytest.mark.skipif(not __import__("shutil").which("soffice"), reason="LibreOffice is not installed")
def test_legacy_doc_converts_in_a_private_profile(parser, tmp_path, monkeypatch):
    """A .doc made by LibreOffice itself round-trips through the private-profile converter."""
    from pipelines.parsing.legacy import convert_with_libreoffice

    doc = convert_with_libreoffice(docx_bytes("Avenant au contrat 12"), source_suffix="docx", target_suffix="doc")
    assert sniff_media_type(doc, "x.docx") == mt.DOC
    monkeypatch.setenv("HOME", str(tmp_path))  # the converter must not touch the caller's HOME
    assert "Avenant au contrat 12" in parser.parse(doc).pages[0].text
    assert list(tmp_path.iterdir()) == []


def _tesseract_pids() -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "tesseract":
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":  # a killed process not yet reaped is not running
                    pids.add(int(entry.name))
        except OSError:
            continue
    return pids


@pytest.mark.slow
@pytest.mark.skipif(not __import__("shutil").which("tesseract"), reason="tesseract is not installed")
def test_sandbox_timeout_during_ocr_leaves_no_running_helper():
    import pymupdf

    from pipelines.parsing import SandboxedParser

    src = pymupdf.open()
    page = src.new_page(width=1200, height=1600)
    for line in range(60):
        page.insert_text((40, 40 + line * 25), f"Ligne {line} du constat amiable, témoin et assureur", fontsize=14)
    scan = pymupdf.open()
    scan.new_page(width=1200, height=1600).insert_image(page.rect, stream=page.get_pixmap(dpi=200).tobytes("png"))
    sandbox = SandboxedParser(timeout_s=60, workers=1)
    try:
        sandbox.parse(pdf_bytes(["warm-up"]))  # start the worker (imports) outside the time budget
        sandbox.timeout_s = 1.5
        before = _tesseract_pids()
        with pytest.raises(LimitExceeded):
            sandbox.parse(scan.tobytes())  # OCR of a dense 1200x1600 page takes several seconds
        deadline = time.monotonic() + 0.5  # SIGKILL is immediate; a finished OCR would also exit
        while _tesseract_pids() - before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _tesseract_pids() - before, "a tesseract outlived its killed worker"
        sandbox.timeout_s = 60  # a fresh worker starts (imports) for the next parse
        assert "warm-up" in sandbox.parse(pdf_bytes(["warm-up"])).pages[0].text
    finally:
        sandbox.close()


@pytest.mark.parametrize(
    "ocr_text, is_noise",
    [
        ("Lorem ipsum dolor sit amet, consectetur adipiscing elit.", False),
        ("Montant 1 250,00 € TTC", False),
        ("It\nDoesn't\n\nà\nWork?!?!?!\n/", False),
        ("‘<i\nNat\nee\neee: ae\nPl\n\nLi ! .\n\n», \\ 1\n=\nan >on\n“ee", True),  # a flower photo
        ("| — ~ = ,, ' .", True),
        ("", False),
    ],
)
def test_ocr_noise_filter(ocr_text, is_noise):
    from pipelines.parsing.pdf import looks_like_ocr_noise

    assert looks_like_ocr_noise(ocr_text) is is_noise


@pytest.mark.slow
@pytest.mark.skipif(not __import__("shutil").which("tesseract"), reason="tesseract is not installed")
def test_image_is_ocred_with_boxes_in_pixels(parser):
    import pymupdf

    src = pymupdf.open()
    page = src.new_page(width=500, height=120)
    page.insert_text((20, 70), "Attestation d'assurance 2025", fontsize=30)
    png = page.get_pixmap(dpi=144).tobytes("png")  # 1000 x 240 px
    doc = parser.parse(png, filename="scan.pdf")
    assert doc.media_type == mt.PNG and doc.ocr_pages == (1,)
    text = doc.pages[0].text
    assert "Attestation" in text and "2025" in text
    for block in doc.pages[0].blocks:
        x0, y0, x1, y1 = block.bbox
        assert 0 <= x0 < x1 <= 1000 and 0 <= y0 < y1 <= 240
        assert text[block.start:block.end].strip()


def test_prestarted_sandbox_parses_and_closes_its_workers():
    from pipelines.parsing import SandboxedParser

    sandbox = SandboxedParser(timeout_s=60, workers=2, prestart=True)
    processes = [w.process for w in list(sandbox._idle.queue)]
    assert len(processes) == 2 and all(p.is_alive() for p in processes)
    try:
        for i in range(3):
            assert f"run {i}" in sandbox.parse(pdf_bytes([f"run {i}"])).pages[0].text
    finally:
        sandbox.close()
    assert not any(p.is_alive() for p in processes)


def email_with_attachments() -> bytes:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.org", "b@example.org", "Dossier 7"
    message.set_content("Voir les pièces jointes.")
    message.add_attachment("Constat signé le 3 mars".encode(), maintype="text", subtype="plain",
                           filename="../../etc/constat.txt")
    message.add_attachment(pdf_bytes(["Rapport d'expertise page 1", "Page 2 du rapport"]),
                           maintype="application", subtype="pdf", filename="C:\\tmp\\rapport.pdf")
    message.add_attachment(b"\x00\x01binary", maintype="application", subtype="octet-stream", filename="x.bin")
    return message.as_bytes()


def test_email_attachments_become_pages_named_without_paths(parser, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    doc = parser.parse(email_with_attachments(), filename="mail.eml")
    texts = [page.text for page in doc.pages]
    assert [page.number for page in doc.pages] == [1, 2, 3, 4]
    assert "Dossier 7" in texts[0] and "pièces jointes" in texts[0]
    assert texts[1].startswith("Attachment: constat.txt\n\n") and "Constat signé" in texts[1]
    assert texts[2].startswith("Attachment: rapport.pdf\n\n") and "Page 2 du rapport" in texts[3]
    for page in doc.pages:
        for block in page.blocks:
            assert page.text[block.start:block.end].strip() == page.text[block.start:block.end] != ""
    assert any("x.bin" in warning for warning in doc.warnings)
    assert list(tmp_path.iterdir()) == []


def _image(fmt: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(out, format=fmt)
    return out.getvalue()


@pytest.mark.parametrize(
    "data, filename, expected",
    [
        (b"<p>Bonjour</p><p>monde</p>", "a.txt", mt.HTML),  # an HTML fragment, not XML
        (b"<factbook><country>France</country></factbook>", "f.html", mt.XML),
        (b"From: a@example.org\nSubject: Hi\n\nBody", "mail.pdf", mt.EML),
        (b"a;b\n1;2\n", "table.csv", mt.CSV),
        (b"a;b\n1;2\n", "table.txt", mt.TEXT),
        ("Texte sans BOM".encode("utf-16-le"), "x.bin", mt.TEXT),
        (b"{\\rtf1\\ansi hello}", "x.txt", mt.RTF),
        (_image("PNG"), "x.jpg", mt.PNG),
        (_image("JPEG"), "x.png", mt.JPEG),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic", "x.jpg", mt.HEIC),
        (b"\x1f\x8b\x08\x00" + bytes(20), "x.docx", "application/gzip"),
        (b"ID3\x04" + bytes(20), "x.txt", "audio/mpeg"),
    ],
)
def test_sniffing_ignores_misleading_names(data, filename, expected):
    assert sniff_media_type(data, filename) == expected


def test_unsupported_type_is_named_in_the_error(parser):
    with pytest.raises(UnsupportedMediaType, match="audio/mpeg"):
        parser.parse(b"ID3\x04" + bytes(200), filename="claim.pdf")
