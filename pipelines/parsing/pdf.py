"""PDF with PyMuPDF: text per page in reading order, blocks with bounding boxes, OCR for
pages that have images but no text layer."""

from __future__ import annotations

import functools
import re

from pipelines.errors import CorruptDocument, EncryptedDocument, LimitExceeded
from pipelines.parsing.ocr import ocr_image_bytes, ocr_pdf_pages_in_processes
from pipelines.types import Block, Page, ParsedDocument

BLOCK_SEPARATOR = "\n\n"


class PyMuPDFParser:
    """Invariant: for every block ``b`` of a page, ``page.text[b.start:b.end]`` is the text
    PyMuPDF found in ``b.bbox``; blocks are separated by a blank line.

    Pages without a text layer but with images are OCR'd, the first ``ocr_max_pages`` of
    them (a warning says when the budget ran out), ``ocr_workers`` at a time; the result
    does not depend on ``ocr_workers``."""

    def __init__(self, *, max_pages: int = 5000, ocr_languages: str = "fra+eng", ocr_max_pages: int = 200,
                 ocr_dpi: int = 200, ocr_workers: int = 1):
        self.max_pages = max_pages
        self.ocr_languages = ocr_languages
        self.ocr_max_pages = ocr_max_pages
        self.ocr_dpi = ocr_dpi
        self.ocr_workers = ocr_workers

    def parse(self, data: bytes, *, filename: str = "", password: str | None = None) -> ParsedDocument:
        import fitz

        fitz.TOOLS.mupdf_display_errors(False)
        try:
            doc = fitz.open(stream=data, filetype="pdf")
        except Exception:  # noqa: BLE001 - MuPDF reports damage with assorted exception types
            raise CorruptDocument("the PDF is damaged beyond repair") from None
        with doc:
            if doc.needs_pass and not doc.authenticate(password or ""):
                if password:
                    raise EncryptedDocument("the PDF password is wrong")
                raise EncryptedDocument(
                    "the PDF is encrypted: send its password in metadata.password (it is never stored)"
                )
            try:
                page_count = doc.page_count  # a forged /Count raises here
            except Exception:  # noqa: BLE001 - same assorted MuPDF exception types as open()
                raise CorruptDocument("the PDF page tree is damaged (a wrong page count)") from None
            if page_count == 0:
                raise CorruptDocument("the PDF has no pages")
            if page_count > self.max_pages:
                raise LimitExceeded(f"the PDF has {page_count} pages; the limit is {self.max_pages}")
            pages: list[Page] = []
            to_ocr: list[int] = []
            warnings: list[str] = []
            ocr_budget = self.ocr_max_pages
            for number in range(1, page_count + 1):
                try:
                    page = doc.load_page(number - 1)
                except Exception:  # noqa: BLE001 - a cycle in /Kids raises when the page is looked up
                    raise CorruptDocument("the PDF page tree is damaged (a cycle in its pages)") from None
                try:
                    text, blocks = page_text_and_blocks(page)
                except Exception:  # noqa: BLE001 - one damaged page must not lose the others
                    warnings.append(f"page {number} could not be read")
                    pages.append(Page(number, ""))
                    continue
                if not text.strip() and _has_images(page):
                    # The budget counts pages OCR is tried on, readable or not.
                    if ocr_budget > 0:
                        ocr_budget -= 1
                        to_ocr.append(number)
                    elif ocr_budget == 0:
                        ocr_budget = -1
                        warnings.append(f"OCR stopped after {self.ocr_max_pages} pages")
                pages.append(Page(number, text, blocks))
            ocr_pages: list[int] = []
            for number, (text, blocks) in zip(to_ocr, self._ocr(doc, data, password, to_ocr), strict=True):
                pages[number - 1] = Page(number, text, blocks)
                if text:
                    ocr_pages.append(number)
        return ParsedDocument("application/pdf", tuple(pages), tuple(ocr_pages), tuple(warnings))

    def _ocr(self, doc, data: bytes, password: str | None, numbers: list[int]) -> list[tuple[str, tuple[Block, ...]]]:
        """OCR of the pages ``numbers``, in that order. One page stays in-process: a helper
        process costs ~0.8 s to start, a third of a page's OCR."""
        if self.ocr_workers > 1 and len(numbers) > 1:
            return ocr_pdf_pages_in_processes(data, numbers, workers=self.ocr_workers, languages=self.ocr_languages,
                                              dpi=self.ocr_dpi, password=password)
        return [ocr_page_with_blocks(doc.load_page(number - 1), self.ocr_languages, self.ocr_dpi)
                for number in numbers]


def text_flags() -> int:
    """PyMuPDF's flags for block text, with typographic ligatures spelt out: "proﬁt"
    (U+FB01) is read "profit", as a question, the embedder and the NER write it."""
    import fitz

    return fitz.TEXTFLAGS_BLOCKS & ~fitz.TEXT_PRESERVE_LIGATURES


def page_text_and_blocks(page, textpage=None) -> tuple[str, tuple[Block, ...]]:
    """The page's text blocks in reading order (``column_order``), joined by
    ``BLOCK_SEPARATOR``. A given ``textpage`` (OCR) keeps the flags it was made with."""
    parts: list[str] = []
    blocks: list[Block] = []
    offset = 0
    raw = [(x0, y0, x1, y1, text.strip())
           for x0, y0, x1, y1, text, _no, block_type in page.get_text("blocks", sort=True, textpage=textpage,
                                                                      flags=text_flags())
           if block_type == 0 and text.strip()]
    for x0, y0, x1, y1, block_text in column_order(raw, page.rect.width):
        if parts:
            parts.append(BLOCK_SEPARATOR)
            offset += len(BLOCK_SEPARATOR)
        parts.append(block_text)
        blocks.append(Block(offset, offset + len(block_text), (float(x0), float(y0), float(x1), float(y1))))
        offset += len(block_text)
    return "".join(parts), tuple(blocks)


# A paragraph of a column: three lines or more. Single lines side by side are a form's
# labels and values or a table's cells, which read across, not down.
_PARAGRAPH_LINES = 3
_COLUMN_MIN_CHARS = 200


def column_order(blocks: list[tuple[float, float, float, float, str]],
                 page_width: float) -> list[tuple[float, float, float, float, str]]:
    """Text blocks ``(x0, y0, x1, y1, text)``, given top to bottom, in reading order:
    on a two-column page, the left column before the right one.

    Sorting by position alone interleaves columns (a right-column paragraph that starts
    a little higher comes before the left-column one beside it), and a sentence that
    goes on at the top of the right column is cut from its start. Blocks that cross the
    middle of the page (titles, full-width figures) split the page into bands; a band is
    read column by column only when both halves hold paragraphs (three lines or more,
    ``_COLUMN_MIN_CHARS`` characters or more a side, most of the band's text) and no two
    single lines face each other (a form or a table, which reads across). Every other
    band keeps the order given.
    """
    middle = page_width / 2
    slack = page_width * 0.02
    out: list[tuple[float, float, float, float, str]] = []
    band: list[tuple[float, float, float, float, str]] = []

    def side(block) -> str:
        x0, _, x1, _, _ = block
        if x1 <= middle + slack:
            return "left"
        if x0 >= middle - slack:
            return "right"
        return "across"

    def flush() -> None:
        left = [b for b in band if side(b) == "left"]
        right = [b for b in band if side(b) == "right"]
        if _reads_in_columns(left, right):
            out.extend(sorted(left, key=lambda b: b[1]))
            out.extend(sorted(right, key=lambda b: b[1]))
        else:
            out.extend(band)
        band.clear()

    for block in blocks:
        if side(block) == "across":
            flush()
            out.append(block)
        else:
            band.append(block)
    flush()
    return out


def _reads_in_columns(left: list, right: list) -> bool:
    def paragraphs(blocks: list) -> list:
        return [b for b in blocks if b[4].count("\n") + 1 >= _PARAGRAPH_LINES]

    def chars(blocks: list) -> int:
        return sum(len(b[4]) for b in blocks)

    left_paragraphs, right_paragraphs = paragraphs(left), paragraphs(right)
    if chars(left_paragraphs) < _COLUMN_MIN_CHARS or chars(right_paragraphs) < _COLUMN_MIN_CHARS:
        return False
    if chars(left_paragraphs) + chars(right_paragraphs) < 0.6 * (chars(left) + chars(right)):
        return False
    # single lines facing each other: a form's label and value, a table row
    lines_left = [b for b in left if "\n" not in b[4]]
    lines_right = [b for b in right if "\n" not in b[4]]
    return not any(abs(a[1] - b[1]) < 3 for a in lines_left for b in lines_right)


def _has_images(page) -> bool:
    """Image XObjects or inline images (which ``get_images`` does not list)."""
    if page.get_images(full=False):
        return True
    return any(block.get("type") == 1 for block in page.get_text("dict").get("blocks", []))


def ocr_page(page, languages: str, dpi: int) -> str:
    pixmap = page.get_pixmap(dpi=dpi)
    return ocr_image_bytes(pixmap.tobytes("png"), languages)


def ocr_page_with_blocks(page, languages: str, dpi: int) -> tuple[str, tuple[Block, ...]]:
    """OCR text of a page and its blocks with real boxes (page coordinates).

    PyMuPDF's built-in OCR (MuPDF's tesseract with the Debian language data) is preferred:
    it returns positioned blocks, so citations of scans get boxes. (It once ran ~2.5x
    faster than the tesseract command, but only because the command's OpenMP
    oversubscribed the cores: with ``OMP_THREAD_LIMIT=1`` the command took 1.8-2.0 s for a
    page MuPDF read in 2.5-2.7 s.) Without language data it falls back to the command,
    whose plain text gets one block covering the page.
    """
    text, blocks = _ocr(page, languages, dpi)
    if looks_like_ocr_noise(text):
        return "", ()
    return text, blocks


def _ocr(page, languages: str, dpi: int) -> tuple[str, tuple[Block, ...]]:
    tessdata = tessdata_dir()
    if tessdata:
        try:
            textpage = page.get_textpage_ocr(language=languages, dpi=dpi, full=True, tessdata=tessdata)
            return page_text_and_blocks(page, textpage=textpage)
        except (RuntimeError, ValueError):  # e.g. a language pack missing: try the command
            pass
    text = ocr_page(page, languages, dpi)
    return text, ((Block(0, len(text), tuple(page.rect)),) if text else ())


_WORDLIKE = re.compile(r"^(?:[^\W\d_]{3,}(?:['’.-][^\W\d_]+)*|\d[\d.,/:-]*\d)$")
MIN_WORDLIKE_SHARE = 0.3


def looks_like_ocr_noise(text: str) -> bool:
    """True when OCR output is mostly not words (a photo or drawing read as text).

    Share of tokens that are words of 3+ letters or numbers of 2+ digits, after edge
    punctuation is stripped: ~0.9 on scanned prose or forms, ~0.1 on a flower photo.
    Indexing such noise would only produce false matches.
    """
    tokens = [t.strip(".,;:!?()[]{}«»“”‘’\"'") for t in text.split()]
    tokens = [t for t in tokens if t]
    if not tokens:
        return False
    wordlike = sum(bool(_WORDLIKE.match(t)) for t in tokens)
    return wordlike < MIN_WORDLIKE_SHARE * len(tokens)


@functools.lru_cache(maxsize=1)
def tessdata_dir() -> str | None:
    """Tesseract's language data directory ($TESSDATA_PREFIX or the system install)."""
    import fitz

    try:
        return fitz.get_tessdata() or None
    except Exception:  # noqa: BLE001 - PyMuPDF raises when tesseract is not installed
        return None


def ocr_image(png: bytes, languages: str) -> tuple[str, tuple[Block, ...]]:
    """OCR of an image (PNG bytes) placed on a page of its own pixel size, so block boxes
    are in image pixels. Small images are rendered up to ~2000 px on the long side
    (tesseract reads small print badly)."""
    import fitz

    width, height = fitz.Pixmap(png).irect[2:]
    doc = fitz.open()
    page = doc.new_page(width=width, height=height)
    page.insert_image(page.rect, stream=png)
    scale = max(1.0, min(3.0, 2000 / max(width, height, 1)))
    return ocr_page_with_blocks(page, languages, int(72 * scale))
