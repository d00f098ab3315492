"""A hostile upload corpus, generated (nothing is checked in): what a careless or malicious
client can send to ``POST /v1/collections/{name}/documents``.

``build_corpus(marker, ...)`` returns ``HostileCase`` rows. Every name that comes from an
upload (the file name, attachment and archive member names) carries ``marker``, so a test
can look for it on disk afterwards: a file whose name contains the marker means an upload
name was used as a path.

Each row says what a correct server answers: ``201`` when the file is legitimately
parseable (then ``must_contain`` is text the stored pages must hold), otherwise the 4xx
status and the problem title. ``must_not_contain`` lists text that must never reach the
stored pages (the content of /etc/passwd, a path component).

The builders are fast (the 10,000-page PDF is written object by object, ~0.1 s) so the
whole corpus costs well under a second to generate.
"""

from __future__ import annotations

import io
import itertools
import os
import random
import struct
import zipfile
from dataclasses import dataclass
from email.message import EmailMessage

PASSWD_LINE = "root:x:0:0"
"""What /etc/passwd starts with: if it shows up in a stored page, an external entity was resolved."""


@dataclass(frozen=True)
class HostileCase:
    id: str
    category: str
    filename: str
    data: bytes
    expect: int  # 201 (parsed and indexed) or the 4xx status of the problem
    title: str | None = None  # problem title expected for a 4xx
    must_contain: str | None = None  # text the stored pages hold (201 only)
    must_not_contain: tuple[str, ...] = ()
    raw_disposition: bytes | None = None  # a hand-made Content-Disposition (filename* etc.)
    extra_form: tuple[tuple[str, bytes], ...] = ()  # other multipart fields (metadata)
    note: str = ""


# ---- PDF, written object by object ------------------------------------------------------

_FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def raw_pdf(objects: dict[int, bytes], *, root: int = 1, trailer_extra: bytes = b"", prev_to_self: bool = False) -> bytes:
    """A PDF from numbered object bodies with a correct classic xref table (so that what
    MuPDF sees is exactly the structure we wrote, not its repair of a damaged file)."""
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number in sorted(objects):
        offsets[number] = out.tell()
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, objects[number]))
    size = max(objects) + 1
    xref_at = out.tell()
    rows = [b"0000000000 65535 f \n"] + [
        (b"%010d 00000 n \n" % offsets[i]) if i in offsets else b"0000000000 65535 f \n" for i in range(1, size)
    ]
    out.write(b"xref\n0 %d\n%s" % (size, b"".join(rows)))
    prev = b"/Prev %d " % xref_at if prev_to_self else b""
    out.write(b"trailer\n<< /Size %d /Root %d 0 R %s%s>>\nstartxref\n%d\n%%%%EOF\n" % (size, root, prev, trailer_extra, xref_at))
    return out.getvalue()


def _stream(content: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n%s\nendstream" % (len(content), extra, content)


def _text_ops(text: str) -> bytes:
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)").encode("latin-1")
    return b"BT /F1 11 Tf 40 750 Td (" + escaped + b") Tj ET"


def one_page_pdf(text: str, *, kids: bytes = b"[3 0 R]", count: int = 1, page_extra: bytes = b"",
                 extra_objects: dict[int, bytes] | None = None, **kwargs) -> bytes:
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids %s /Count %d >>" % (kids, count),
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
           b"/Resources << /Font << /F1 5 0 R >> >> %s>>" % page_extra,
        4: _stream(_text_ops(text)),
        5: _FONT,
    }
    objects.update(extra_objects or {})
    return raw_pdf(objects, **kwargs)


def many_pages_pdf(pages: int, text: str = "p") -> bytes:
    """``pages`` real pages (each its own page object) sharing one content stream and one
    font: a legitimate file, ~100 bytes a page."""
    first_page = 5
    kids = b" ".join(b"%d 0 R" % (first_page + i) for i in range(pages))
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
        3: _stream(_text_ops(text)),
        4: _FONT,
    }
    page = b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 3 0 R /Resources << /Font << /F1 4 0 R >> >> >>"
    for i in range(pages):
        objects[first_page + i] = page
    return raw_pdf(objects)


def deflated(head: bytes, fill: bytes, fill_mb: int, tail: bytes = b"") -> tuple[bytes, int, int]:
    """Raw deflate of ``head + fill * (fill_mb MB) + tail`` in milliseconds: one megabyte
    of ``fill`` is compressed once (after a full flush, so it refers to nothing before it)
    and its compressed form repeated. Returns (raw deflate, crc32, inflated size)."""
    import zlib

    block = fill * (1024 * 1024 // len(fill))
    outer = zlib.compressobj(9, zlib.DEFLATED, -15)
    inner = zlib.compressobj(9, zlib.DEFLATED, -15)
    repeated = inner.compress(block) + inner.flush(zlib.Z_FULL_FLUSH)
    body = (outer.compress(head) + outer.flush(zlib.Z_FULL_FLUSH) + repeated * fill_mb
            + outer.compress(tail) + outer.flush())
    crc = zlib.crc32(head)
    for _ in range(fill_mb):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(tail, crc)
    return body, crc, len(head) + len(block) * fill_mb + len(tail)


def deflate_bomb_pdf(inflated_mb: int) -> bytes:
    """One page whose content stream inflates from ~0.1% of its size to ``inflated_mb`` MB
    of blanks (a compression bomb inside a PDF: text extraction must stay bounded)."""
    import zlib

    head = _text_ops("Deflate bomb page")
    raw, _crc, _size = deflated(head, b" ", inflated_mb)
    adler = 1  # MuPDF does not check the checksum; compute it anyway so the stream is valid
    adler = zlib.adler32(head, adler)
    block = b" " * (1024 * 1024)
    for _ in range(inflated_mb):
        adler = zlib.adler32(block, adler)
    packed = b"\x78\xda" + raw + struct.pack(">I", adler)
    return one_page_pdf("unused", extra_objects={4: _stream(packed, b"/Filter /FlateDecode ")})


def truncated(data: bytes, fraction: float = 0.5) -> bytes:
    return data[: max(1, int(len(data) * fraction))]


# ---- Office files ------------------------------------------------------------------------

def docx_bytes(text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx_bytes(rows: list[list[object]]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def pptx_bytes(title: str) -> bytes:
    from pptx import Presentation

    deck = Presentation()
    deck.slides.add_slide(deck.slide_layouts[1]).shapes.title.text = title
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def rewrite_member(package: bytes, member: str, change) -> bytes:
    """The same ZIP package with ``member``'s bytes replaced by ``change(old)``."""
    source = zipfile.ZipFile(io.BytesIO(package))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == member:
                data = change(data)
            target.writestr(info, data)
    return out.getvalue()


def _doctype(xml: bytes, root: bytes, declarations: bytes) -> bytes:
    """Insert ``<!DOCTYPE root [declarations]>`` after the XML declaration (or first)."""
    doctype = b"<!DOCTYPE " + root + b" [" + declarations + b"]>"
    if xml.startswith(b"<?xml"):
        head, sep, rest = xml.partition(b"?>")
        return head + sep + doctype + rest
    return doctype + xml


def _laughs(levels: int = 9) -> bytes:
    entities = b'<!ENTITY a "aaaaaaaaaa">' + b"".join(
        b'<!ENTITY %s "%s">' % (bytes([98 + i]), (b"&" + bytes([97 + i]) + b";") * 10) for i in range(levels - 1)
    )
    return entities


def docx_with_entity(declarations: bytes, reference: bytes, placeholder: str = "PLACEHOLDER-TEXT") -> bytes:
    def change(xml: bytes) -> bytes:
        return _doctype(xml, b"w:document", declarations).replace(placeholder.encode(), reference, 1)

    return rewrite_member(docx_bytes(f"Visible paragraph. {placeholder}"), "word/document.xml", change)


def xlsx_with_entity(declarations: bytes, reference: bytes, placeholder: str = "PLACEHOLDER-TEXT") -> bytes:
    package = xlsx_bytes([["Visible cell", placeholder]])  # openpyxl writes inline strings

    def change(xml: bytes) -> bytes:
        return _doctype(xml, b"worksheet", declarations).replace(placeholder.encode(), reference, 1)

    return rewrite_member(package, "xl/worksheets/sheet1.xml", change)


def raw_zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A ZIP from (name, stored bytes, method (0 stored, 8 deflate), crc32, declared
    inflated size) rows, written by hand so that the declared sizes can lie."""
    out = io.BytesIO()
    central = []
    for name, data, method, crc, size in members:
        encoded = name.encode()
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0, crc, len(data), size,
                              len(encoded), 0) + encoded + data)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0, crc,
                                   len(data), size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
    directory_at = out.tell()
    out.write(b"".join(central))
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central),
                          out.tell() - directory_at, directory_at, 0))
    return out.getvalue()


def _with_member(package: bytes, member: str, inflated_mb: int, *, declared: int | None = None,
                 crc_of_declared: bool = False) -> bytes:
    """``package`` with ``member`` followed by an XML comment of ``inflated_mb`` MB of zeros;
    its headers declare its true size, or ``declared`` bytes (a lie). ``crc_of_declared``:
    the CRC is that of the first ``declared`` bytes, so that a reader stopping at the
    declared size finds nothing wrong."""
    import zlib

    source = zipfile.ZipFile(io.BytesIO(package))
    rows = []
    for info in source.infolist():
        data = source.read(info)
        if info.filename == member:
            head = data + b"<!--"
            raw, crc, size = deflated(head, b"0", inflated_mb, b"-->")
            if declared is not None and crc_of_declared:
                crc = zlib.crc32((head + b"0" * declared)[:declared])
            rows.append((info.filename, raw, 8, crc, size if declared is None else declared))
        else:
            rows.append((info.filename, data, 0, zlib.crc32(data), len(data)))
    return raw_zip(rows)


def zip_bomb(kind: str, inflated_mb: int = 200) -> bytes:
    """A real DOCX/XLSX whose main part inflates to ``inflated_mb`` MB (~1000x its size)."""
    if kind == "docx":
        return _with_member(docx_bytes("Zip bomb"), "word/document.xml", inflated_mb)
    return _with_member(xlsx_bytes([["Zip bomb"]]), "xl/worksheets/sheet1.xml", inflated_mb)


def lying_size_zip(kind: str, inflated_mb: int = 200, *, crc_of_declared: bool = False) -> bytes:
    """Like ``zip_bomb`` but the headers claim 1 KB: a bomb that a check of the declared
    sizes alone lets through."""
    if kind == "docx":
        package, member = docx_bytes("Lying sizes"), "word/document.xml"
    else:
        package, member = xlsx_bytes([["Lying sizes"]]), "xl/worksheets/sheet1.xml"
    return _with_member(package, member, inflated_mb, declared=1024, crc_of_declared=crc_of_declared)


def zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def png_bomb(side: int = 60_000) -> bytes:
    """A valid PNG header announcing ``side`` x ``side`` pixels (~10 GB decoded) with a tiny body."""
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + b"\x00" * side  # filter byte + one grey row
    idat = zlib.compress(row * 64, 9)  # far fewer rows than announced
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


# ---- Outlook .msg: a minimal Compound File (MS-CFB v3) writer ------------------------------

_FREE, _END, _FATSECT, _NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF
_SECTOR, _MINI, _CUTOFF = 512, 64, 4096


def compound_file(tree: dict) -> bytes:
    """A CFB v3 file from a nested dict: ``{name: bytes}`` is a stream, ``{name: dict}`` a
    storage. Streams under 4 KB live in the mini stream, as the format requires."""
    entries: list[dict] = [{"name": "Root Entry", "type": 5, "kids": []}]

    def add(node: dict, parent: int) -> None:
        for name, value in node.items():
            index = len(entries)
            entries[parent]["kids"].append(index)
            if isinstance(value, dict):
                entries.append({"name": name, "type": 1, "kids": []})
                add(value, index)
            else:
                entries.append({"name": name, "type": 2, "data": value, "kids": []})

    add(tree, 0)
    sectors: list[bytes] = []
    fat: list[int] = []

    def place(data: bytes) -> int:
        """Append ``data`` as a chain of sectors; return its first sector."""
        count = max(1, -(-len(data) // _SECTOR))
        first = len(sectors)
        for i in range(count):
            sectors.append(data[i * _SECTOR:(i + 1) * _SECTOR].ljust(_SECTOR, b"\0"))
            fat.append(first + i + 1 if i < count - 1 else _END)
        return first

    mini_stream, minifat = bytearray(), []
    for entry in entries:
        if entry["type"] != 2:
            continue
        data = entry["data"]
        if len(data) >= _CUTOFF:
            entry["start"] = place(data)
        elif data:
            first = len(mini_stream) // _MINI
            count = -(-len(data) // _MINI)
            mini_stream += data.ljust(count * _MINI, b"\0")
            minifat.extend(first + i + 1 if i < count - 1 else _END for i in range(count))
            entry["start"] = first
        else:
            entry["start"] = _END
    entries[0]["start"] = place(bytes(mini_stream)) if mini_stream else _END
    entries[0]["data"] = bytes(mini_stream)
    minifat_start = place(b"".join(struct.pack("<I", v) for v in minifat)) if minifat else _END

    def sort_key(index: int):
        name = entries[index]["name"]
        return (len(name), name.upper())

    records = []
    for index, entry in enumerate(entries):
        entry.setdefault("left", _NOSTREAM)
        entry.setdefault("right", _NOSTREAM)
        kids = sorted(entry["kids"], key=sort_key)
        # Siblings as a chain of right links in CFB name order (a valid, unbalanced tree).
        for a, b in itertools.pairwise(kids):
            entries[a]["right"] = b
        entry["child"] = kids[0] if kids else _NOSTREAM
    for entry in entries:
        name = entry["name"].encode("utf-16-le")[:62]
        size = len(entry.get("data", b""))
        records.append(
            name.ljust(64, b"\0") + struct.pack("<HBB", len(name) + 2, entry["type"], 1)
            + struct.pack("<III", entry["left"], entry["right"], entry["child"]) + bytes(16) + bytes(4)
            + bytes(16) + struct.pack("<IQ", entry.get("start", 0), size)
        )
    directory_start = place(b"".join(records).ljust(-(-len(records) // 4) * _SECTOR, b"\0"))
    # FAT sectors go last; they describe themselves too.
    fat_sectors = 1
    while (len(sectors) + fat_sectors) > fat_sectors * (_SECTOR // 4):
        fat_sectors += 1
    assert fat_sectors <= 109, "file too large for a header-only DIFAT"
    fat_first = len(sectors)
    fat.extend([_FATSECT] * fat_sectors)
    fat.extend([_FREE] * (fat_sectors * (_SECTOR // 4) - len(fat)))
    table = b"".join(struct.pack("<I", v) for v in fat)
    for i in range(fat_sectors):
        sectors.append(table[i * _SECTOR:(i + 1) * _SECTOR])
    difat = [fat_first + i for i in range(fat_sectors)] + [_FREE] * (109 - fat_sectors)
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(16)
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6) + bytes(6)
        + struct.pack("<IIIIIIIII", 0, fat_sectors, directory_start, 0, _CUTOFF, minifat_start,
                      1 if minifat else 0, _END, 0)
        + b"".join(struct.pack("<I", v) for v in difat)
    )
    assert len(header) == _SECTOR
    return header + b"".join(sectors)


_PT_LONG, _PT_STRING, _PT_BINARY = 0x0003, 0x001F, 0x0102


def _properties(props: list[tuple[int, int, object]], header: bytes) -> tuple[bytes, dict[str, bytes]]:
    """(the ``__properties_version1.0`` stream, the ``__substg1.0_*`` streams) of a storage."""
    rows, streams = [header], {}
    for pid, ptype, value in props:
        if ptype == _PT_LONG:
            rows.append(struct.pack("<HHIIi", ptype, pid, 6, int(value), 0))
            continue
        data = value.encode("utf-16-le") if ptype == _PT_STRING else bytes(value)
        streams[f"__substg1.0_{pid:04X}{ptype:04X}"] = data
        size = len(data) + (2 if ptype == _PT_STRING else 0)
        rows.append(struct.pack("<HHIII", ptype, pid, 6, size, 0))
    return b"".join(rows), streams


def msg_bytes(subject: str, body: str, attachments: list[tuple[str, bytes]]) -> bytes:
    """An Outlook message (IPM.Note, Unicode strings) with attachments by value."""
    root_props, root_streams = _properties(
        [(0x001A, _PT_STRING, "IPM.Note"), (0x0037, _PT_STRING, subject), (0x1000, _PT_STRING, body),
         (0x0C1A, _PT_STRING, "Expéditeur"), (0x0C1F, _PT_STRING, "sender@example.org"),
         (0x340D, _PT_LONG, 0x00040000)],
        bytes(8) + struct.pack("<IIII", 0, len(attachments), 0, len(attachments)) + bytes(8),
    )
    tree: dict = {"__properties_version1.0": root_props, **root_streams}
    for i, (name, payload) in enumerate(attachments):
        props, streams = _properties(
            [(0x3705, _PT_LONG, 1), (0x3707, _PT_STRING, name), (0x3704, _PT_STRING, name[-12:]),
             (0x3701, _PT_BINARY, payload), (0x370E, _PT_STRING, "text/plain")],
            bytes(8),
        )
        tree[f"__attach_version1.0_#{i:08X}"] = {"__properties_version1.0": props, **streams}
    return compound_file(tree)


def eml_bytes(subject: str, body: str, attachments: list[tuple[str, bytes]]) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.org", "b@example.org", subject
    message.set_content(body)
    for name, payload in attachments:
        message.add_attachment(payload, maintype="text", subtype="plain", filename=name)
    return message.as_bytes()


# ---- the corpus -----------------------------------------------------------------------------

LIMITED = "Limit exceeded"
CORRUPT = "Corrupt document"
EMPTY = "Document has no text"
UNSUPPORTED = "Unsupported media type"
PARSE = "Document could not be parsed"


def build_corpus(marker: str, *, max_upload_bytes: int, max_pages: int, ssrf_url: str) -> list[HostileCase]:
    """Every case; ``marker`` is in every name an upload carries, ``ssrf_url`` is a
    loopback listener that must never be contacted (external entities, links)."""
    m = marker
    rng = random.Random(8)
    text_ok = f"Hostile corpus control text {m}: the claim is legitimate."
    cases: list[HostileCase] = []

    def add(id: str, category: str, filename: str, data: bytes, expect: int, title: str | None = None, **kw):
        cases.append(HostileCase(id=id, category=category, filename=filename, data=data, expect=expect,
                                 title=title, **kw))

    # -- compression bombs
    add("docx-zip-bomb", "zip bomb", f"{m}-bomb.docx", zip_bomb("docx"), 413, LIMITED)
    add("xlsx-zip-bomb", "zip bomb", f"{m}-bomb.xlsx", zip_bomb("xlsx"), 413, LIMITED)
    add("docx-lying-sizes", "zip bomb", f"{m}-liar.docx", lying_size_zip("docx"), 413, LIMITED,
        note="200 MB behind headers that claim 1 KB")
    add("xlsx-lying-sizes", "zip bomb", f"{m}-liar.xlsx", lying_size_zip("xlsx"), 413, LIMITED,
        note="200 MB behind headers that claim 1 KB")
    add("docx-lying-sizes-crc", "zip bomb", f"{m}-liar-crc.docx", lying_size_zip("docx", crc_of_declared=True),
        413, LIMITED, note="the same, with the CRC of the declared 1 KB: zipfile alone sees nothing wrong")
    add("zip-nested-archives", "zip bomb", f"{m}-42.zip",
        zip_of({f"{m}-layer{i}.zip": zip_of({f"{m}-inner.zip": zip_of({"x.txt": b"deep"})}) for i in range(16)}),
        422, EMPTY)
    add("png-pixel-bomb", "zip bomb", f"{m}-pixels.png", png_bomb(), 413, LIMITED)
    add("pdf-deflate-bomb", "zip bomb", f"{m}-deflate.pdf", deflate_bomb_pdf(100), 201,
        must_contain="Deflate bomb page", note="100 MB of inflated content stream: parsed within the memory limit")

    # -- XML entities in Office XML and XML/HTML
    add("docx-billion-laughs", "xml entities", f"{m}-laughs.docx", docx_with_entity(_laughs(), b"&i;"), 422)
    add("xlsx-billion-laughs", "xml entities", f"{m}-laughs.xlsx", xlsx_with_entity(_laughs(), b"&i;"), 422)
    add("docx-xxe-file", "xml entities", f"{m}-xxe.docx",
        docx_with_entity(b'<!ENTITY x SYSTEM "file:///etc/passwd">', b"&x;"), 201,
        must_contain="Visible paragraph", must_not_contain=(PASSWD_LINE,))
    add("xlsx-xxe-file", "xml entities", f"{m}-xxe.xlsx",
        xlsx_with_entity(b'<!ENTITY x SYSTEM "file:///etc/passwd">', b"&x;"), 422, CORRUPT,
        note="openpyxl refuses a DTD")
    add("docx-xxe-ssrf", "xml entities", f"{m}-ssrf.docx",
        docx_with_entity(f'<!ENTITY x SYSTEM "{ssrf_url}/docx">'.encode(), b"&x;"), 201,
        must_contain="Visible paragraph")
    add("docx-parameter-entity", "xml entities", f"{m}-param.docx",
        docx_with_entity(f'<!ENTITY % p SYSTEM "{ssrf_url}/dtd"> %p;'.encode(), b""), 201,
        must_contain="Visible paragraph")
    add("xml-xxe-file", "xml entities", f"{m}-xxe.xml",
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>', 422, CORRUPT)
    add("xml-external-dtd", "xml entities", f"{m}-ssrf.xml",
        f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "{ssrf_url}/xml"><r>Visible XML text</r>'.encode(), 201,
        must_contain="Visible XML text", note="an external DTD is never fetched (the listener counts)")
    add("html-remote-resources", "xml entities", f"{m}-page.html",
        f'<html><body><img src="{ssrf_url}/img"><iframe src="{ssrf_url}/frame"></iframe>'
        f'<link rel="stylesheet" href="{ssrf_url}/css"><p>Visible HTML text</p></body></html>'.encode(), 201,
        must_contain="Visible HTML text")

    # -- PDF structure
    add("pdf-10k-pages", "pdf structure", f"{m}-10k.pdf", many_pages_pdf(10_000), 413, LIMITED,
        note=f"10,000 real pages against a limit of {max_pages}")
    add("pdf-count-lie", "pdf structure", f"{m}-count.pdf", one_page_pdf("Count lies", count=10**9), 422, CORRUPT)
    add("pdf-kids-self", "pdf structure", f"{m}-kids-self.pdf", one_page_pdf("Kids loop", kids=b"[2 0 R]"), 422,
        CORRUPT)
    add("pdf-kids-cycle", "pdf structure", f"{m}-kids-cycle.pdf", one_page_pdf(
        "Kids cycle", kids=b"[6 0 R]",
        extra_objects={6: b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 1 /Parent 2 0 R >>"}), 422, CORRUPT)
    depth = 100_000
    add("pdf-nested-arrays", "pdf structure", f"{m}-arrays.pdf",
        one_page_pdf("Nested arrays", page_extra=b"/Junk " + b"[" * depth + b"]" * depth + b" "), 422, EMPTY,
        note="10^5 nested arrays in the page dictionary: MuPDF gives up on the page object")
    add("pdf-nested-dicts", "pdf structure", f"{m}-dicts.pdf",
        one_page_pdf("Nested dicts", page_extra=b"/Junk " + b"<< /A " * depth + b">>" * depth + b" "), 422, EMPTY,
        note="10^5 nested dictionaries in the page dictionary: MuPDF gives up on the page object")
    add("pdf-nested-unclosed", "pdf structure", f"{m}-unclosed.pdf",
        one_page_pdf("Unclosed", page_extra=b"/Junk " + b"[" * depth), 422, EMPTY,
        note="10^5 unclosed arrays: the page object cannot be read")
    add("pdf-self-reference", "pdf structure", f"{m}-selfref.pdf",
        one_page_pdf("Self reference", page_extra=b"/Loop 6 0 R ", extra_objects={6: b"[6 0 R 6 0 R]"}), 201,
        must_contain="Self reference")
    add("pdf-xref-prev-loop", "pdf structure", f"{m}-xref-loop.pdf", one_page_pdf("Xref loop", prev_to_self=True),
        201, must_contain="Xref loop")
    add("pdf-contents-loop", "pdf structure", f"{m}-contents-loop.pdf", one_page_pdf(
        "Contents loop", extra_objects={3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents [4 0 R 6 0 R] "
                                           b"/Resources << /Font << /F1 5 0 R >> /XObject << /X 7 0 R >> >> >>",
                                        6: _stream(b"/X Do"),
                                        7: _stream(b"/X Do", b"/Type /XObject /Subtype /Form /BBox [0 0 10 10] "
                                                             b"/Resources << /XObject << /X 7 0 R >> >> ")}), 201,
        must_contain="Contents loop", note="a form XObject that draws itself")

    # -- truncated, empty, disguised
    whole = one_page_pdf("Truncated tail")
    add("pdf-truncated-xref", "truncated", f"{m}-cut.pdf", whole[:whole.rindex(b"xref")], 201,
        must_contain="Truncated tail", note="cut before its xref table: MuPDF rebuilds it")
    add("pdf-truncated-half", "truncated", f"{m}-half.pdf", truncated(whole), 422, EMPTY,
        note="cut inside the page object")
    add("pdf-truncated-header", "truncated", f"{m}-cut-head.pdf", truncated(one_page_pdf("x"), 0.05), 422)
    add("docx-truncated", "truncated", f"{m}-cut.docx", truncated(docx_bytes("Truncated docx")), 422)
    add("xlsx-truncated", "truncated", f"{m}-cut.xlsx", truncated(xlsx_bytes([["Truncated xlsx"]])), 422)
    add("pptx-truncated", "truncated", f"{m}-cut.pptx", truncated(pptx_bytes("Truncated pptx")), 422)
    msg_ok = msg_bytes("Truncated msg", "Body", [])
    add("msg-truncated", "truncated", f"{m}-cut.msg", truncated(msg_ok), 415, UNSUPPORTED,
        note="an OLE file cut in half is no longer recognisable")
    add("empty", "empty", f"{m}-empty.pdf", b"", 422, EMPTY)
    add("whitespace-only", "empty", f"{m}-blank.txt", b" \n\t\r\n  ", 422, EMPTY)
    add("pdf-named-docx", "wrong extension", f"{m}-really-a-pdf.docx", one_page_pdf("PDF in disguise"), 201,
        must_contain="PDF in disguise")
    add("docx-named-pdf", "wrong extension", f"{m}-really-a-docx.pdf", docx_bytes("DOCX in disguise"), 201,
        must_contain="DOCX in disguise")
    add("elf-named-pdf", "wrong extension", f"{m}-invoice.pdf", b"\x7fELF\x02\x01\x01" + bytes(600), 415, UNSUPPORTED)
    add("exe-named-txt", "wrong extension", f"{m}-notes.txt", b"MZ\x90\x00" + bytes(600), 415, UNSUPPORTED)
    add("png-header-garbage", "wrong extension", f"{m}-scan.txt", b"\x89PNG\r\n\x1a\n" + os.urandom(200), 422)

    # -- text encodings
    french = "Le sinistre déclaré à Orléans concerne un véhicule endommagé; montant réclamé 1 250 €."
    add("text-latin1", "encoding", f"{m}-latin1.txt", french.replace("€", "EUR").encode("latin-1"), 201,
        must_contain="déclaré à Orléans")
    add("text-cp1252", "encoding", f"{m}-cp1252.txt", french.encode("cp1252"), 201, must_contain="réclamé 1 250 €")
    add("text-utf16le-no-bom", "encoding", f"{m}-utf16le.txt", french.encode("utf-16-le"), 201,
        must_contain="déclaré à Orléans")
    add("text-utf16be-no-bom", "encoding", f"{m}-utf16be.txt", french.encode("utf-16-be"), 201,
        must_contain="déclaré à Orléans")
    add("text-utf8-invalid-bytes", "encoding", f"{m}-mixed.txt", french.encode() * 2 + b" \xff\xc3( " + french.encode(), 201,
        must_contain="déclaré à Orléans", note="UTF-8 with three invalid bytes stays UTF-8 (no mojibake)")
    add("text-nul-bytes", "encoding", f"{m}-nul.txt", french.encode() * 4 + b"\x00\x00before\x00after " + text_ok.encode(),
        201, must_contain="claim is legitimate", must_not_contain=("\x00",), note="NUL bytes are dropped")
    add("text-nul-head", "encoding", f"{m}-nul-head.txt", b"\x00\x01\x02\x00" * 20 + text_ok.encode(), 415,
        UNSUPPORTED, note="NUL and control bytes at the start: binary, not text")
    add("random-bytes", "encoding", f"{m}-random.bin", bytes(rng.getrandbits(8) for _ in range(4096)), 415,
        UNSUPPORTED)
    add("random-bytes-named-txt", "encoding", f"{m}-random.txt", bytes(rng.getrandbits(8) for _ in range(4096)), 415,
        UNSUPPORTED)

    # -- size
    add("over-size-limit", "size", f"{m}-huge.txt", b"a" * (max_upload_bytes + 1), 413, LIMITED)

    # -- file names (the content is fine: the upload is indexed under a label, never a path)
    names = {
        "name-dotdot": f"../../../{m}-dotdot.txt",
        "name-dotdot-backslash": f"..\\..\\..\\{m}-dotdot.txt",
        "name-absolute": f"/etc/{m}-absolute.txt",
        "name-windows-absolute": f"C:\\Windows\\System32\\{m}-win.txt",
        "name-unc": f"\\\\server\\share\\{m}-unc.txt",
        "name-nul": f"{m}-nul\x00.txt.exe",
        "name-10k-chars": f"{m}-" + "n" * 10_000 + ".txt",
        "name-rtl-override": f"{m}-\u202etxt.exe",
        "name-control-chars": f"{m}-\x1b[31mred\x07\x08.txt",
        "name-only-dots": "..",
        "name-fullwidth-solidus": f"..\uff0f..\uff0f{m}-fullwidth.txt",
        "name-percent-encoded": f"..%2F..%2F{m}-percent.txt",
        "name-unicode-nfd": f"{m}-re\u0301sume\u0301.txt",
    }
    long_name = names.pop("name-10k-chars")
    for case_id, name in names.items():
        add(case_id, "file name", name, f"{text_ok} ({case_id})".encode(), 201, must_contain=case_id)
    add("name-10k-chars", "file name", long_name, f"{text_ok} (long)".encode(), 400, "Bad request",
        note="the multipart parser refuses a part header that long")
    add("name-rfc5987-traversal", "file name", "", f"{text_ok} (rfc5987)".encode(), 422, "Validation error",
        raw_disposition=f"form-data; name=\"file\"; filename*=UTF-8''..%2F..%2F{m}-star.txt".encode(),
        note="filename* is not read: the part is a text field, not a file")
    add("name-crlf-injection", "file name", "", f"{text_ok} (crlf)".encode(), 201, must_contain="(crlf)",
        raw_disposition=f'form-data; name="file"; filename="{m}-a.txt"\r\nContent-Type: text/x-{m}'.encode()
        + b"\r\nX-Injected: 1",
        note="headers injected after the file name are extra part headers: the name stays a label")
    add("name-missing", "file name", "", f"{text_ok} (nameless)".encode(), 422,
        raw_disposition=b'form-data; name="file"', note="a part without a filename is a text field, not a file")

    # -- e-mail attachments whose names are paths
    attachment_names = [f"../../etc/{m}-passwd", f"C:\\{m}-win.txt", f"/tmp/{m}-abs.txt",
                        f"\\\\unc\\share\\{m}-unc.txt", f"..\\..\\{m}-back.txt"]
    attachments = [(name, f"Attachment body {i} for the claim.".encode()) for i, name in enumerate(attachment_names)]
    add("msg-attachment-paths", "e-mail attachments", f"{m}-mail.msg",
        msg_bytes("Claim with attachments", "See the attached files.", attachments), 201,
        must_contain="Attachment body 4", must_not_contain=("../", "..\\", "C:\\", "/tmp/", "\\\\unc"))
    add("eml-attachment-paths", "e-mail attachments", f"{m}-mail.eml",
        eml_bytes("Claim with attachments", "See the attached files.", attachments), 201,
        must_contain="Attachment body 4", must_not_contain=("../", "..\\", "C:\\", "/tmp/", "\\\\unc"))
    add("zip-slip-members", "e-mail attachments", f"{m}-slip.zip",
        zip_of({name: f"Member {i} of the archive.".encode() for i, name in enumerate(
            [f"../../{m}-slip.txt", f"/tmp/{m}-slip-abs.txt", f"..\\{m}-slip-back.txt"])}), 201,
        must_contain="Member 2 of the archive")

    # -- the request itself
    add("metadata-deeply-nested", "request", f"{m}-meta.txt", text_ok.encode(), 422,
        extra_form=(("metadata", b"[" * 100_000 + b"]" * 100_000),), note="10^5 nested JSON arrays as metadata")
    add("metadata-not-json", "request", f"{m}-meta2.txt", text_ok.encode(), 422,
        extra_form=(("metadata", b"\xff\xfe{not json"),))
    return cases
