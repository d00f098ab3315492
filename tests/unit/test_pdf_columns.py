"""Reading order of PDF pages: a two-column page is read column by column, a form or a
table across; a sentence cut by the foot of a column goes on at the top of the next."""

from __future__ import annotations

import pytest

from pipelines import lexical
from pipelines.parsing.pdf import PyMuPDFParser, column_order

_WIDTH = 600.0
_PARAGRAPH = "\n".join(["a line of a paragraph set in a column of the page"] * 4)  # 4 lines, 203 chars


def _block(x0: float, y0: float, x1: float, text: str) -> tuple[float, float, float, float, str]:
    return (x0, y0, x1, y0 + 12 * (text.count("\n") + 1), text)


TITLE = _block(100, 40, 500, "A title across the page")
LEFT_1 = _block(50, 100, 290, "L1 " + _PARAGRAPH)
LEFT_2 = _block(50, 300, 290, "L2 " + _PARAGRAPH)
RIGHT_1 = _block(310, 90, 550, "R1 " + _PARAGRAPH)
RIGHT_2 = _block(310, 310, 550, "R2 " + _PARAGRAPH)
FOOTER = _block(100, 700, 500, "A footer across the page")


def _by_position(*blocks):
    """As PyMuPDF sorts blocks: top to bottom, then left to right."""
    return sorted(blocks, key=lambda b: (b[1], b[0]))


@pytest.mark.parametrize(("blocks", "expected"), [
    # two columns of paragraphs: the left one first, between what crosses the page
    (_by_position(TITLE, LEFT_1, LEFT_2, RIGHT_1, RIGHT_2, FOOTER),
     [TITLE, LEFT_1, LEFT_2, RIGHT_1, RIGHT_2, FOOTER]),
    # a form: labels and values on single lines face each other and read across
    (_by_position(_block(50, 100, 200, "Nom"), _block(320, 100, 500, "Dupont"),
                  _block(50, 130, 200, "Police"), _block(320, 130, 500, "AB-1234"), LEFT_1, RIGHT_2),
     _by_position(_block(50, 100, 200, "Nom"), _block(320, 100, 500, "Dupont"),
                  _block(50, 130, 200, "Police"), _block(320, 130, 500, "AB-1234"), LEFT_1, RIGHT_2)),
    # one side without paragraphs (a sidebar of short notes): the order is kept
    (_by_position(LEFT_1, LEFT_2, _block(310, 90, 550, "Note\nshort"), _block(310, 310, 550, "Other\nnote")),
     _by_position(LEFT_1, LEFT_2, _block(310, 90, 550, "Note\nshort"), _block(310, 310, 550, "Other\nnote"))),
    # a single column
    (_by_position(TITLE, _block(50, 100, 550, _PARAGRAPH), FOOTER),
     [TITLE, _block(50, 100, 550, _PARAGRAPH), FOOTER]),
])
def test_column_order(blocks, expected):
    assert column_order(blocks, _WIDTH) == expected


def _two_column_pdf() -> bytes:
    """A page of two columns: the left one's last sentence goes on at the top of the
    right one, which starts a little higher than the left one."""
    import pymupdf

    doc = pymupdf.open()
    page = doc.new_page(width=_WIDTH, height=800)
    page.insert_text((150, 50), "Claims handling report", fontsize=14)
    left = ["The insurer received the claim on the fourth of March and opened a file",
            "at once; the expert visited the house two days later and wrote a report",
            "describing the water damage in the kitchen, and the insured sent the",
            "invoices of the plumber and of the electrician, which the insurer has"]
    right = ["paid in full within thirty days of the expert visit, as the contract",
             "requires for water damage claims of less than five thousand euros. No",
             "complaint was filed by the insured, and the file was closed in May after",
             "a last check of the payments made by the claims department."]
    # one text box per column: PyMuPDF reads each as one block of lines
    page.insert_textbox(pymupdf.Rect(30, 110, 295, 200), "\n".join(left), fontsize=8)
    page.insert_textbox(pymupdf.Rect(305, 100, 580, 190), "\n".join(right), fontsize=8)
    return doc.tobytes()


def test_a_sentence_cut_by_a_column_break_is_whole():
    page = PyMuPDFParser().parse(_two_column_pdf()).pages[0]
    assert page.text.index("The insurer received") < page.text.index("paid in full")
    sentences = [lexical.readable(page.text[s:e])
                 for s, e in lexical.sentence_spans(page.text, wrap_width=lexical.wrap_width(page.text))]
    assert ("The insurer received the claim on the fourth of March and opened a file at once; the expert "
            "visited the house two days later and wrote a report describing the water damage in the kitchen, "
            "and the insured sent the invoices of the plumber and of the electrician, which the insurer has "
            "paid in full within thirty days of the expert visit, as the contract requires for water damage "
            "claims of less than five thousand euros.") in sentences
    for block in page.blocks:  # every block is still the text found in its box
        assert page.text[block.start:block.end].strip()
