"""Answer-sized sentences of parsed page text: a line break ends a sentence unless the
line is soft-wrapped (PDF text breaks lines inside sentences)."""

from __future__ import annotations

import pytest

from pipelines import lexical


@pytest.mark.parametrize(("text", "sentences"), [
    # soft wraps inside a sentence are joined
    ("Le sinistre concerne un dégât des eaux. La\nfranchise s'élève à 150 euros.",
     ["Le sinistre concerne un dégât des eaux.", "La\nfranchise s'élève à 150 euros."]),
    ("The premium is payable\nin advance.", ["The premium is payable\nin advance."]),
    ("la somme de 150\neuros, payable le\n12 mars.", ["la somme de 150\neuros, payable le", "12 mars."]),
    ("l'assuré,\nle souscripteur et\nl'expert.", ["l'assuré,\nle souscripteur et\nl'expert."]),
    # spaces around the break do not matter
    ("La loi visant les contenus haineux sur internet \n a été adoptée le 13 mai 2020.",
     ["La loi visant les contenus haineux sur internet \n a été adoptée le 13 mai 2020."]),
    # headings, list items, table rows and finished sentences stay apart
    ("Conditions générales\nLe contrat couvre le vol.", ["Conditions générales", "Le contrat couvre le vol."]),
    ("Garanties :\n- vol\n- incendie", ["Garanties :", "- vol", "- incendie"]),
    ("Total | 359 | 411\nnet | 337 | -115", ["Total | 359 | 411", "net | 337 | -115"]),
    ("Fin de la phrase.\nsuite en minuscule.", ["Fin de la phrase.", "suite en minuscule."]),
    ("Les parties conviennent :\nde payer;\nde livrer.", ["Les parties conviennent :", "de payer;", "de livrer."]),
    # a bare reply word is read with the sentence that explains it, on its line only
    ("Non. Le vol n'est pas couvert.", ["Non. Le vol n'est pas couvert."]),
    ("Yes! The claim was accepted. It is paid.", ["Yes! The claim was accepted.", "It is paid."]),
    ("Non.\nLe vol n'est pas couvert.", ["Non.", "Le vol n'est pas couvert."]),
    ("L'expert a dit non. Le vol est couvert.", ["L'expert a dit non.", "Le vol est couvert."]),
    # a blank line is a paragraph break, never a wrap
    ("Premier paragraphe sans point\n\nsecond paragraphe.", ["Premier paragraphe sans point", "second paragraphe."]),
    ("Premier paragraphe sans point\n \nsecond paragraphe.", ["Premier paragraphe sans point", "second paragraphe."]),
])
def test_sentences_of_page_text(text, sentences):
    assert [text[s:e] for s, e in lexical.sentence_spans(text)] == sentences
