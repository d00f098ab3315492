"""Office, HTML, e-mail, EPUB, RTF and XML through unstructured; plain text decoded here.

Pages: where unstructured reports page numbers (PPTX slides, XLSX sheets, some DOCX),
each becomes a page; otherwise the document is one page. Element texts are joined with a
blank line, so offsets into a page are exact for the text we store.
"""

from __future__ import annotations

import io
import os
from collections import defaultdict

from pipelines.errors import (
    CorruptDocument,
    EncryptedDocument,
    LimitExceeded,
    ParseError,
    UnsupportedMediaType,
)
from pipelines.parsing import sniff as mt
from pipelines.parsing.legacy import convert_with_libreoffice
from pipelines.types import Page, ParsedDocument

ELEMENT_SEPARATOR = "\n\n"
TABLE_CELL_SEPARATOR = " | "
"""Tables become one line per row, cells separated by this (readable, and a row stays
together in a chunk)."""

_UNSTRUCTURED_TYPES = {
    mt.DOCX: "docx", mt.PPTX: "pptx", mt.XLSX: "xlsx", mt.ODT: "odt", mt.EPUB: "epub", mt.DOC: "doc",
    mt.PPT: "ppt", mt.XLS: "xls", mt.RTF: "rtf", mt.HTML: "html", mt.XML: "xml", mt.EML: "eml",
    mt.MSG: "msg",
}


def supported(media_type: str) -> bool:
    return media_type in _UNSTRUCTURED_TYPES or media_type in mt.TEXT_TYPES


def parse_text(data: bytes, media_type: str) -> ParsedDocument:
    text = mt.decode_text(data).replace("\r\n", "\n").replace("\x00", "")
    pages = tuple(Page(i + 1, t) for i, t in enumerate(text.split("\f"))) if "\f" in text else (Page(1, text),)
    return ParsedDocument(media_type, pages)


def parse_with_unstructured(data: bytes, media_type: str, *, filename: str, max_pages: int) -> ParsedDocument:
    os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
    os.environ.setdefault("SCARF_NO_ANALYTICS", "true")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    kind = _UNSTRUCTURED_TYPES[media_type]
    if kind == "xml":
        return _parse_xml(data)
    _use_rule_based_sentences()
    if kind == "eml":
        data = _as_ascii_compatible_email(data)
    elements = _partition(kind, data, filename)
    if kind == "msg" and not elements and _is_encrypted_msg(data):
        raise EncryptedDocument("the Outlook message is encrypted; it cannot be read without the recipient's key")
    by_page: dict[int, list[str]] = defaultdict(list)
    subject = _email_subject(elements) if kind in ("eml", "msg") else ""
    if subject:
        by_page[1].append(subject)
    paged = False
    for element in elements:
        text = _element_text(element)
        if not text:
            continue
        number = getattr(element.metadata, "page_number", None)
        if number:
            paged = True
        by_page[int(number or 1)].append(text)
    if not paged:
        flat = [t for _, texts in sorted(by_page.items()) for t in texts]
        by_page = {1: flat}
    last = max(by_page) if by_page else 1
    # The highest page number, not the count: a forged page number must not make us build
    # millions of empty pages.
    if last > max_pages:
        raise LimitExceeded(f"the document has {last} pages; the limit is {max_pages}")
    pages = tuple(Page(n, ELEMENT_SEPARATOR.join(by_page.get(n, []))) for n in range(1, last + 1))
    return ParsedDocument(media_type, pages)


def _partition(kind: str, data: bytes, filename: str):
    file = io.BytesIO(data)
    try:
        if kind == "docx":
            from unstructured.partition.docx import partition_docx as fn
        elif kind == "doc":
            from unstructured.partition.docx import partition_docx as fn

            file = io.BytesIO(convert_with_libreoffice(data, source_suffix="doc", target_suffix="docx"))
        elif kind == "pptx":
            from unstructured.partition.pptx import partition_pptx as fn
        elif kind == "ppt":
            from unstructured.partition.pptx import partition_pptx as fn

            file = io.BytesIO(convert_with_libreoffice(data, source_suffix="ppt", target_suffix="pptx"))
        elif kind == "xlsx":
            from unstructured.partition.xlsx import partition_xlsx as fn
        elif kind == "xls":
            return _partition_xls(data, filename)
        elif kind == "odt":
            from unstructured.partition.odt import partition_odt as fn
        elif kind == "epub":
            from unstructured.partition.epub import partition_epub as fn
        elif kind == "rtf":
            from unstructured.partition.rtf import partition_rtf as fn
        elif kind == "html":
            from unstructured.partition.html import partition_html as fn

            return fn(text=mt.decode_text(data), metadata_filename=filename)
        elif kind == "eml":
            from unstructured.partition.email import partition_email as fn

            return fn(file=file, metadata_filename=filename, process_attachments=False)
        elif kind == "msg":
            from unstructured.partition.msg import partition_msg as fn

            return fn(file=file, metadata_filename=filename, process_attachments=False)
        else:  # pragma: no cover - guarded by supported()
            raise UnsupportedMediaType(f"no parser for {kind}")
        return fn(file=file, metadata_filename=filename)
    except ParseError:
        raise
    except Exception as exc:  # noqa: BLE001 - any library failure on a file is a corrupt file
        name = type(exc).__name__
        message = str(exc).lower()
        if "encrypt" in message or "password" in message:
            raise EncryptedDocument(f"the {kind.upper()} file is encrypted") from None
        raise CorruptDocument(f"the {kind.upper()} file could not be read ({name})") from None


def _partition_xls(data: bytes, filename: str):
    """Legacy .xls: pandas/xlrd read it directly (no LibreOffice round trip needed)."""
    import pandas as pd
    from unstructured.documents.elements import ElementMetadata, Table

    sheets = pd.read_excel(io.BytesIO(data), sheet_name=None, header=None, engine="xlrd")
    elements = []
    for number, (_name, frame) in enumerate(sheets.items(), start=1):
        rows = [TABLE_CELL_SEPARATOR.join(str(v) for v in row if str(v) != "nan")
                for row in frame.itertuples(index=False)]
        elements.append(Table(text="\n".join(r for r in rows if r), metadata=ElementMetadata(page_number=number)))
    return elements


def _parse_xml(data: bytes) -> ParsedDocument:
    """Text content of an XML file; no entity resolution, no network (defusedxml)."""
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    try:
        root = ElementTree.fromstring(data)
    except DefusedXmlException:
        raise CorruptDocument("the XML uses entities or DTDs, which are refused") from None
    except Exception:  # noqa: BLE001 - every parser error means the same to the uploader
        raise CorruptDocument("the XML is not well-formed") from None
    texts = [t.strip() for t in root.itertext() if t and t.strip()]
    return ParsedDocument(mt.XML, (Page(1, "\n".join(texts)),))


_RULE_BASED_NLP = None


def _use_rule_based_sentences() -> None:
    """Give unstructured a rule-based spaCy pipeline instead of ``en_core_web_sm``.

    Why: unstructured runs the statistical English model on every paragraph only to label
    elements (title vs narrative text); we keep the text and drop the labels, so the model
    costs time (the 872-page dev DOCX: 88 s -> 23 s; EPUB 31 s -> 9 s), ~10 s of loading
    per worker and memory, for identical joined text. A blank English tokenizer with
    spaCy's sentencizer answers the same calls offline. Idempotent, process-local.
    """
    global _RULE_BASED_NLP
    if _RULE_BASED_NLP is None:
        import spacy
        from unstructured.nlp import tokenize

        nlp = spacy.blank("en")
        nlp.add_pipe("sentencizer")
        _RULE_BASED_NLP = nlp
        tokenize._get_nlp = lambda: nlp  # unstructured looks the function up at call time


def _as_ascii_compatible_email(data: bytes) -> bytes:
    """An e-mail saved as UTF-16/32 (the headers themselves wide) re-encoded as UTF-8;
    the stdlib e-mail parser unstructured uses only reads ASCII-compatible bytes."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")) or b"\x00" in data[:200]:
        return mt.decode_text(data).replace("\x00", "").encode("utf-8")
    return data


def _email_subject(elements) -> str:
    for element in elements:
        subject = getattr(element.metadata, "subject", None)
        if subject and subject.strip():
            return subject.strip()
    return ""


def _is_encrypted_msg(data: bytes) -> bool:
    """S/MIME or PGP Outlook message: its body is ciphertext (same test as unstructured's,
    plus the S/MIME message classes)."""
    try:
        from oxmsg import Message

        message = Message.load(io.BytesIO(data))
        content_type = message.message_headers.get("Content-Type", "") or ""
        message_class = (message.message_class or "").lower()
    except Exception:  # noqa: BLE001 - a damaged message is reported as corrupt elsewhere
        return False
    return "encrypted" in content_type.lower() or "pkcs7" in content_type.lower() or ".smime" in message_class


def _element_text(element) -> str:
    """An element's text; a table as one line per row (unstructured's own table text runs
    every cell together on one line, which loses which value belongs to which row)."""
    text = (getattr(element, "text", "") or "").strip()
    html = getattr(element.metadata, "text_as_html", None) if getattr(element, "category", "") == "Table" else None
    if not html:
        return text
    try:
        import lxml.html

        table = lxml.html.fragment_fromstring(html, create_parent="div")
        rows = []
        for row in table.iter("tr"):
            # Spreadsheet cells arrive with line breaks escaped as a literal backslash-n.
            cells = [" ".join(cell.text_content().replace("\\n", " ").split())
                     for cell in row if cell.tag in ("td", "th")]
            cells = [cell for cell in cells if cell]  # empty layout cells only add noise
            if cells:
                rows.append(TABLE_CELL_SEPARATOR.join(cells))
    except Exception:  # noqa: BLE001 - fall back to unstructured's flat text
        return text
    return "\n".join(rows) or text
