"""``DocumentParser``: sniff the media type, then hand the bytes to the right parser."""

from __future__ import annotations

import io
import zipfile

from pipelines.errors import (
    CorruptDocument,
    EmptyDocument,
    EncryptedDocument,
    LimitExceeded,
    UnsupportedMediaType,
)
from pipelines.parsing import office
from pipelines.parsing import sniff as mt
from pipelines.parsing.ocr import image_to_png
from pipelines.parsing.pdf import PyMuPDFParser, ocr_image
from pipelines.types import Block, Page, ParsedDocument

MAX_UNZIPPED_BYTES = 512 * 1024 * 1024
MAX_ZIP_RATIO = 200
MAX_ARCHIVE_MEMBERS = 200
MAX_ATTACHMENTS = 20


class DocumentParser:
    """``pipelines.ports.Parser`` for every supported format (runs in-process: wrap it in
    ``SandboxedParser`` for untrusted input)."""

    def __init__(self, *, ocr_languages: str = "fra+eng", max_pages: int = 5000, ocr_max_pages: int = 200,
                 ocr_workers: int = 1):
        self.max_pages = max_pages
        self.ocr_languages = ocr_languages
        self.pdf = PyMuPDFParser(max_pages=max_pages, ocr_languages=ocr_languages, ocr_max_pages=ocr_max_pages,
                                 ocr_workers=ocr_workers)
        self._with_attachments = True

    def parse(self, data: bytes, *, filename: str = "", password: str | None = None) -> ParsedDocument:
        """Pages of ``data``. Invariant: the result holds some non-blank text; otherwise a
        ``ParseError`` subclass is raised (``EmptyDocument`` when parsing worked but found
        no text, so the caller never indexes an empty document)."""
        parsed = self._parse_by_type(data, filename, password)
        if parsed.is_empty:
            if parsed.media_type == mt.PDF or parsed.media_type in mt.IMAGE_TYPES:
                raise EmptyDocument("no text found: the pages have no text layer and OCR read nothing")
            raise EmptyDocument("the document contains no text")
        return parsed

    def _parse_by_type(self, data: bytes, filename: str, password: str | None) -> ParsedDocument:
        if not data or not data.strip():
            raise EmptyDocument("the file is empty")
        media_type = mt.sniff_media_type(data, filename)
        if media_type == mt.PDF:
            return self.pdf.parse(data, filename=filename, password=password)
        if media_type == mt.ENCRYPTED_OFFICE:
            return self._parse_by_type(_decrypt_office(data, password), filename, None)
        if media_type in mt.IMAGE_TYPES:
            # Block boxes are in image pixels (the page is the image at 1 px = 1 pt).
            text, blocks = ocr_image(image_to_png(data), self.ocr_languages)
            return ParsedDocument(media_type, (Page(1, text, blocks),), ocr_pages=(1,) if text else ())
        if media_type in mt.TEXT_TYPES:
            return office.parse_text(data, media_type)
        if media_type == mt.EML and _is_smime(data):
            raise EncryptedDocument("the e-mail is encrypted (S/MIME or PGP); it cannot be read without the recipient's key")
        if media_type == mt.ZIP:
            return self._parse_archive(data, password)
        if office.supported(media_type):
            if media_type in (mt.DOCX, mt.PPTX, mt.XLSX, mt.ODT, mt.EPUB):
                _check_zip_bomb(data)
            parsed = office.parse_with_unstructured(data, media_type, filename=filename, max_pages=self.max_pages)
            if media_type in (mt.EML, mt.MSG) and self._with_attachments:
                parsed = self._add_attachments(parsed, data, media_type, password)
            return parsed
        raise UnsupportedMediaType(f"unsupported file type ({media_type})")


    def _add_attachments(self, parsed: ParsedDocument, data: bytes, media_type: str,
                         password: str | None) -> ParsedDocument:
        """The e-mail's pages followed by its attachments' pages, each attachment's first
        page headed ``Attachment: <name>``. Attachments are parsed from memory (their names
        are labels, never paths), one level deep (an attached e-mail's own attachments are
        skipped); unreadable ones become warnings."""
        pages = list(parsed.pages)
        ocr_pages = list(parsed.ocr_pages)
        warnings = list(parsed.warnings)
        attachments = _email_attachments(data, media_type)
        if len(attachments) > MAX_ATTACHMENTS:
            warnings.append(f"only the first {MAX_ATTACHMENTS} of {len(attachments)} attachments were read")
        inner = DocumentParser.__new__(DocumentParser)
        inner.__dict__.update(self.__dict__, _with_attachments=False)
        for label, payload in attachments[:MAX_ATTACHMENTS]:
            try:
                attached = inner.parse(payload, filename=label, password=password)
            except (UnsupportedMediaType, EmptyDocument, EncryptedDocument, CorruptDocument) as exc:
                warnings.append(f"attachment {label}: {exc}")
                continue
            heading = f"Attachment: {label}\n\n"
            for index, page in enumerate(attached.pages):
                number = len(pages) + 1
                if index == 0:
                    shift = len(heading)
                    blocks = tuple(Block(b.start + shift, b.end + shift, b.bbox) for b in page.blocks)
                    page = Page(number, heading + page.text, blocks)
                else:
                    page = Page(number, page.text, page.blocks)
                if index + 1 in attached.ocr_pages:
                    ocr_pages.append(number)
                pages.append(page)
                if len(pages) > self.max_pages:
                    raise LimitExceeded(f"the e-mail and its attachments have more than {self.max_pages} pages")
        return ParsedDocument(parsed.media_type, tuple(pages), tuple(ocr_pages), tuple(warnings))

    def _parse_archive(self, data: bytes, password: str | None) -> ParsedDocument:
        """A ZIP of documents becomes one document: each member's pages, in name order.
        Members are parsed from memory (names are never used as paths); nested archives
        and unsupported members are skipped with a warning."""
        _check_zip_bomb(data)
        pages: list[Page] = []
        ocr_pages: list[int] = []
        warnings: list[str] = []
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, OSError, ValueError, EOFError):
            # Truncated Office files land here too: their directory is at the end.
            raise CorruptDocument("the ZIP container is damaged or truncated") from None
        with archive:
            members = sorted((i for i in archive.infolist() if not i.is_dir()), key=lambda i: i.filename)
            if len(members) > MAX_ARCHIVE_MEMBERS:
                raise LimitExceeded(f"the archive has {len(members)} files; the limit is {MAX_ARCHIVE_MEMBERS}")
            for info in members:
                label = info.filename.replace("\\", "/").rsplit("/", 1)[-1][:100]
                member = archive.read(info)
                if mt.sniff_media_type(member, label) == mt.ZIP:
                    warnings.append(f"{label}: nested archive skipped")
                    continue
                try:
                    parsed = self.parse(member, filename=label, password=password)
                except (UnsupportedMediaType, EmptyDocument, EncryptedDocument) as exc:
                    warnings.append(f"{label}: {exc}")
                    continue
                for page in parsed.pages:
                    number = len(pages) + 1
                    if page.number in parsed.ocr_pages:
                        ocr_pages.append(number)
                    pages.append(Page(number, page.text, page.blocks))
                    if len(pages) > self.max_pages:
                        raise LimitExceeded(f"the archive has more than {self.max_pages} pages")
        if not pages:
            raise EmptyDocument("the archive holds no readable document")
        return ParsedDocument(mt.ZIP, tuple(pages), tuple(ocr_pages), tuple(warnings))


def _is_smime(data: bytes) -> bool:
    head = data[:8192].lower()
    return any(marker in head for marker in (b"application/pkcs7-mime", b"application/x-pkcs7-mime",
                                             b"multipart/encrypted", b"application/pgp-encrypted"))


def _check_zip_bomb(data: bytes) -> None:
    """Refuse containers that would inflate far beyond their size (before any parser
    decompresses them): by the sizes the ZIP declares, then by inflating each deflated
    member in bounded steps, since declared sizes can lie. ``zipfile`` stops at a member's
    declared size, but a library reading the member whole first inflates everything its
    compressed bytes hold (200 MB behind a 1 KB claim took ~400 MB in the worker)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        return  # the format parser will report the damage
    with archive:
        infos = archive.infolist()
        total = sum(info.file_size for info in infos)
        if total > MAX_UNZIPPED_BYTES or total > max(len(data), 1) * MAX_ZIP_RATIO:
            raise LimitExceeded("the file inflates to far more than its size (a zip bomb?)")
        for info in infos:
            if info.compress_type == zipfile.ZIP_DEFLATED and _inflates_beyond(data, info):
                raise LimitExceeded("a member of the file inflates to more than its headers declare (a zip bomb?)")


def _inflates_beyond(data: bytes, info: zipfile.ZipInfo, step: int = 1 << 20) -> bool:
    """True when the member's deflate stream yields more than ``info.file_size`` bytes.
    Work and memory are bounded by the declared size plus one ``step``."""
    import struct
    import zlib

    start = info.header_offset
    if data[start:start + 4] != b"PK\x03\x04":
        return False  # a damaged local header: the format parser will report it
    name_length, extra_length = struct.unpack("<HH", data[start + 26:start + 30])
    begin = start + 30 + name_length + extra_length
    pending = data[begin:begin + info.compress_size]
    inflater = zlib.decompressobj(-15)
    produced = 0
    try:
        while pending and not inflater.eof:
            produced += len(inflater.decompress(pending, step))
            if produced > info.file_size:
                return True
            pending = inflater.unconsumed_tail
    except zlib.error:
        return False  # damaged data: the format parser will report it
    return False


def _decrypt_office(data: bytes, password: str | None) -> bytes:
    """The plain OOXML package inside a password-protected Office file (ECMA-376 agile or
    standard encryption, via msoffcrypto-tool, in memory)."""
    if password is None:
        raise EncryptedDocument(
            "the Office file is password-protected: send its password in metadata.password (it is never stored)"
        )
    import msoffcrypto
    from msoffcrypto.exceptions import InvalidKeyError

    try:
        office_file = msoffcrypto.OfficeFile(io.BytesIO(data))
        office_file.load_key(password=password)
        out = io.BytesIO()
        office_file.decrypt(out)
    except InvalidKeyError:
        raise EncryptedDocument("the Office file password is wrong") from None
    except Exception:  # noqa: BLE001 - msoffcrypto raises assorted errors on damaged input
        raise EncryptedDocument("the Office file is encrypted in a way that cannot be opened") from None
    decrypted = out.getvalue()
    if mt.sniff_media_type(decrypted) == mt.ENCRYPTED_OFFICE:
        raise CorruptDocument("the Office file is encrypted more than once")
    return decrypted


def _email_attachments(data: bytes, media_type: str) -> list[tuple[str, bytes]]:
    """(label, bytes) of each attachment, in message order. Labels are the attachment's
    base name without path components, cut to 100 characters: for messages only."""
    found: list[tuple[str, bytes]] = []
    try:
        if media_type == mt.MSG:
            from oxmsg import Message

            for attachment in Message.load(io.BytesIO(data)).attachments:
                payload = attachment.file_bytes
                if payload:
                    found.append((attachment.file_name or "", payload))
        else:
            import email
            from email import policy

            message = email.message_from_bytes(office._as_ascii_compatible_email(data), policy=policy.default)
            for part in message.iter_attachments():
                payload = part.get_payload(decode=True)
                if isinstance(payload, bytes) and payload:
                    found.append((part.get_filename() or "", payload))
    except Exception:  # noqa: BLE001 - a damaged attachment list leaves the body readable
        return []
    return [(_safe_label(name, i), payload) for i, (name, payload) in enumerate(found, start=1)]


def _safe_label(name: str, index: int) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip().lstrip(".")
    base = "".join(ch for ch in base if ch.isprintable())[:100]
    return base or f"attachment-{index}"
