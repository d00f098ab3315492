"""Media type from the bytes, not the name.

The filename only breaks ties between text formats that have no signature (Markdown,
CSV and plain text look alike). Containers are looked into: a ZIP is DOCX, PPTX, XLSX,
ODT or EPUB by its members; an OLE2 file is DOC, PPT, XLS, MSG or an encrypted OOXML
package by its streams. Reading a ZIP's directory never decompresses a member.
"""

from __future__ import annotations

import io
import re
import zipfile

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ODT = "application/vnd.oasis.opendocument.text"
EPUB = "application/epub+zip"
DOC = "application/msword"
PPT = "application/vnd.ms-powerpoint"
XLS = "application/vnd.ms-excel"
MSG = "application/vnd.ms-outlook"
ENCRYPTED_OFFICE = "application/x-encrypted-office"
RTF = "application/rtf"
HTML = "text/html"
XML = "application/xml"
EML = "message/rfc822"
MARKDOWN = "text/markdown"
CSV = "text/csv"
TEXT = "text/plain"
JPEG, PNG, TIFF, GIF, BMP, WEBP, HEIC = (
    "image/jpeg", "image/png", "image/tiff", "image/gif", "image/bmp", "image/webp", "image/heic",
)
ZIP = "application/zip"
OCTET = "application/octet-stream"

IMAGE_TYPES = frozenset({JPEG, PNG, TIFF, GIF, BMP, WEBP, HEIC})
TEXT_TYPES = frozenset({TEXT, MARKDOWN, CSV})

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_EMAIL_HEADER = re.compile(
    rb"^(from|to|subject|date|received|return-path|message-id|mime-version|content-type|delivered-to|x-[\w-]+):",
    re.IGNORECASE | re.MULTILINE,
)
_MAGIC_NAMES = [
    (b"ID3", "audio/mpeg"), (b"fLaC", "audio/flac"), (b"OggS", "audio/ogg"), (b"\x1f\x8b", "application/gzip"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"), (b"Rar!", "application/vnd.rar"),
    (b"\x7fELF", "application/x-executable"), (b"MZ", "application/x-msdownload"),
]


def sniff_media_type(data: bytes, filename: str = "") -> str:
    head = data[:4096]
    suffix = filename.lower().rsplit(".", 1)[-1] if "." in filename else ""
    if b"%PDF-" in data[:1024]:
        return PDF
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(data)
    if head.startswith(_OLE_MAGIC):
        return _ole_kind(data)
    if head.startswith(b"{\\rtf"):
        return RTF
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return TIFF
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head.startswith(b"BM") and len(head) > 14 and suffix == "bmp":
        return BMP
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis", b"avif"):
        return HEIC
    if head[:4] == b"RIFF":
        return "audio/wav" if head[8:12] == b"WAVE" else OCTET
    for magic, name in _MAGIC_NAMES:
        if head.startswith(magic):
            return name
    text = decode_text_head(head)
    if text is None:
        return OCTET
    return _text_kind(text, suffix)


def _zip_kind(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "mimetype" in names:
                info = archive.getinfo("mimetype")
                if info.file_size < 200:
                    mimetype = archive.read("mimetype").decode("ascii", "replace").strip()
                    if mimetype == EPUB:
                        return EPUB
                    if mimetype.startswith("application/vnd.oasis.opendocument.text"):
                        return ODT
                    if mimetype.startswith("application/vnd.oasis.opendocument"):
                        return mimetype
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, RuntimeError):
        return ZIP
    if "[Content_Types].xml" in names:
        if any(n.startswith("word/") for n in names):
            return DOCX
        if any(n.startswith("ppt/") for n in names):
            return PPTX
        if any(n.startswith("xl/") for n in names):
            return XLSX
    return ZIP


def _ole_kind(data: bytes) -> str:
    try:
        import olefile

        with olefile.OleFileIO(io.BytesIO(data)) as ole:
            streams = {"/".join(entry).lower() for entry in ole.listdir(streams=True, storages=True)}
    except Exception:  # noqa: BLE001 - olefile raises many types on damaged input
        return OCTET
    if "encryptedpackage" in streams or "encryptioninfo" in streams:
        return ENCRYPTED_OFFICE
    if "worddocument" in streams:
        return DOC
    if "powerpoint document" in streams:
        return PPT
    if "workbook" in streams or "book" in streams:
        return XLS
    if any(s.startswith(("__substg1.0_", "__properties_version1.0")) for s in streams):
        return MSG
    return OCTET


def decode_text_head(head: bytes) -> str | None:
    """The start of the data as text, or None when it does not look like text."""
    try:
        text = decode_text(head, strict=True)
    except ValueError:
        return None
    sample = text[:2000]
    if not sample:
        return ""
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f\v")
    return None if controls > len(sample) * 0.02 else text


def decode_text(data: bytes, *, strict: bool = False) -> str:
    """Decode text bytes: BOMs (UTF-8/16/32), UTF-16 without BOM, UTF-8, then the best of
    charset-normalizer's guesses (cp1252 and friends). ``strict`` raises ValueError when
    the bytes are not text rather than guessing."""
    for bom, encoding in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe\x00\x00", "utf-32-le"),
                          (b"\x00\x00\xfe\xff", "utf-32-be"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(encoding, errors="replace")
    if len(data) >= 4 and b"\x00" in data[:200]:
        even_zero = data[0:200:2].count(0)
        odd_zero = data[1:200:2].count(0)
        half = min(len(data), 200) / 2
        if odd_zero > half * 0.6 and even_zero < half * 0.1:
            return data.decode("utf-16-le", errors="replace")
        if even_zero > half * 0.6 and odd_zero < half * 0.1:
            return data.decode("utf-16-be", errors="replace")
        if strict:
            raise ValueError("binary data")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of a head sample is still UTF-8.
        if exc.start >= len(data) - 3:
            return data[: exc.start].decode("utf-8")
    mostly = _mostly_utf8(data)
    if mostly is not None:
        return mostly
    western = _as_western_european(data)
    if western is not None:
        return western
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        if strict:
            raise ValueError("undecodable")
        return data.decode("cp1252", errors="replace")
    return str(best)


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 with a few invalid bytes (a damaged or concatenated file), decoded as UTF-8
    with U+FFFD for the bad bytes. Read as cp1252 instead, every accented letter would
    become two characters ("dÃ©clarÃ©"). Text in a single-byte encoding has almost no
    valid multi-byte UTF-8 sequences, so needing two valid ones per invalid one keeps
    cp1252 files out of this branch."""
    text = data.decode("utf-8", errors="replace")
    invalid = text.count("\ufffd") - data.count(b"\xef\xbf\xbd")
    multibyte = sum(1 for ch in text if ord(ch) > 127 and ch != "\ufffd")
    return text if multibyte >= 2 and multibyte >= 2 * invalid else None


_WESTERN_LETTERS = frozenset("àâäáãåçéèêëíìîïñóòôöõúùûüýÿœæßÀÂÄÁÃÅÇÉÈÊËÍÌÎÏÑÓÒÔÖÕÚÙÛÜÝŸŒÆ€£«»°§²³µ’‘“”–—…·×÷¼½¾©®™")


def _as_western_european(data: bytes) -> str | None:
    """cp1252 when it decodes and its non-ASCII characters are the letters and signs of
    French/English/Western European text. Statistical detectors often pick cp1250 or Mac
    encodings for short French texts (turning "à" into "ŕ"); our corpora are Western
    European first, so this common case is decided before guessing."""
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None
    non_ascii = [ch for ch in text if ord(ch) > 127]
    if not non_ascii:
        return text
    western = sum(ch in _WESTERN_LETTERS for ch in non_ascii)
    return text if western >= 0.8 * len(non_ascii) else None


# An HTML fragment (no <html>/<body>) is recognised by its first element being an HTML one;
# parsed as XML it would be refused as "not well-formed" (several roots, <br>, &nbsp;).
_HTML_FIRST_TAG = re.compile(
    r"<(p|div|span|table|h[1-6]|ul|ol|li|br|a|b|i|em|strong|section|article|header|footer|nav|main|form|img|meta|"
    r"title|style|script|link)[\s>/]"
)


def _text_kind(text: str, suffix: str) -> str:
    stripped = text.lstrip("\ufeff \t\r\n")
    lowered = stripped[:2048].lower()
    # HTML must look like markup from its first character: a Markdown or text file that
    # quotes an HTML snippet stays text.
    if lowered.startswith(("<!doctype html", "<html")) or (
        lowered.startswith("<") and (re.search(r"<(html|body|head)[\s>]", lowered) or _HTML_FIRST_TAG.match(lowered))
    ):
        return HTML
    header_block = stripped[:4096].split("\n\n", 1)[0].encode("utf-8", "replace")
    if len(_EMAIL_HEADER.findall(header_block)) >= 2:
        return EML
    if lowered.startswith("<?xml") or (lowered.startswith("<") and re.match(r"<[a-z_][\w.-]*[\s>/]", lowered)):
        return XML
    if suffix in ("md", "markdown"):
        return MARKDOWN
    if suffix in ("csv", "tsv"):
        return CSV
    if suffix in ("htm", "html"):
        return HTML
    return TEXT
