"""PDF with PyMuPDF: text per page in reading order, blocks with bounding boxes, OCR for
pages that have images but no text layer."""

from __future__ import annotations

from pipelines.errors import CorruptDocument, EncryptedDocument, LimitExceeded
from pipelines.parsing.ocr import ocr_image_bytes
from pipelines.types import Block, Page, ParsedDocument

BLOCK_SEPARATOR = "\n\n"


class PyMuPDFParser:
    """Invariant: for every block ``b`` of a page, ``page.text[b.start:b.end]`` is the text
    PyMuPDF found in ``b.bbox``; blocks are separated by a blank line."""

    def __init__(self, *, max_pages: int = 5000, ocr_languages: str = "fra+eng", ocr_max_pages: int = 200,
                 ocr_dpi: int = 200):
        self.max_pages = max_pages
        self.ocr_languages = ocr_languages
        self.ocr_max_pages = ocr_max_pages
        self.ocr_dpi = ocr_dpi

    def parse(self, data: bytes, *, filename: str = "", password: str | None = None) -> ParsedDocument:
        import fitz

        fitz.TOOLS.mupdf_display_errors(False)
        try:
            doc = fitz.open(stream=data, filetype="pdf")
        except Exception:
            raise CorruptDocument("the PDF is damaged beyond repair") from None
        with doc:
            if doc.needs_pass:
                if not doc.authenticate(password or ""):
                    if password:
                        raise EncryptedDocument("the PDF password is wrong")
                    raise EncryptedDocument(
                        "the PDF is encrypted: send its password in metadata.password (it is never stored)"
                    )
            if doc.page_count == 0:
                raise CorruptDocument("the PDF has no pages")
            if doc.page_count > self.max_pages:
                raise LimitExceeded(f"the PDF has {doc.page_count} pages; the limit is {self.max_pages}")
            pages: list[Page] = []
            ocr_pages: list[int] = []
            warnings: list[str] = []
            ocr_budget = self.ocr_max_pages
            for number, page in enumerate(doc, start=1):
                try:
                    text, blocks = page_text_and_blocks(page)
                except Exception:
                    warnings.append(f"page {number} could not be read")
                    pages.append(Page(number, ""))
                    continue
                if not text.strip() and _has_images(page):
                    if ocr_budget > 0:
                        ocr_budget -= 1
                        text = ocr_page(page, self.ocr_languages, self.ocr_dpi)
                        blocks = (Block(0, len(text), tuple(page.rect)),) if text else ()
                        if text:
                            ocr_pages.append(number)
                    elif ocr_budget == 0:
                        ocr_budget = -1
                        warnings.append(f"OCR stopped after {self.ocr_max_pages} pages")
                pages.append(Page(number, text, blocks))
        return ParsedDocument("application/pdf", tuple(pages), tuple(ocr_pages), tuple(warnings))


def page_text_and_blocks(page) -> tuple[str, tuple[Block, ...]]:
    parts: list[str] = []
    blocks: list[Block] = []
    offset = 0
    for x0, y0, x1, y1, block_text, _no, block_type in page.get_text("blocks", sort=True):
        if block_type != 0:
            continue
        block_text = block_text.strip()
        if not block_text:
            continue
        if parts:
            parts.append(BLOCK_SEPARATOR)
            offset += len(BLOCK_SEPARATOR)
        parts.append(block_text)
        blocks.append(Block(offset, offset + len(block_text), (float(x0), float(y0), float(x1), float(y1))))
        offset += len(block_text)
    return "".join(parts), tuple(blocks)


def _has_images(page) -> bool:
    """Image XObjects or inline images (which ``get_images`` does not list)."""
    if page.get_images(full=False):
        return True
    return any(block.get("type") == 1 for block in page.get_text("dict").get("blocks", []))


def ocr_page(page, languages: str, dpi: int) -> str:
    pixmap = page.get_pixmap(dpi=dpi)
    return ocr_image_bytes(pixmap.tobytes("png"), languages)
