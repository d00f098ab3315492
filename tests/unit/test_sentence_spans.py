"""Answer-sized sentences of parsed page text: a line break ends a sentence unless the
line is soft-wrapped (PDF text breaks lines inside sentences)."""

from __future__ import annotations

import pytest

from pipelines import lexical

# PDF text hard-wrapped at ~80 characters (three lines go on in lower case).
_TESTS = (
    "Les tests ont été réalisés sur un poste de travail de bureau de la gamme Core 2 Duo\n"
    "E8400 à 3 GHz, avec trois gigaoctets de mémoire vive exploitables pour les\n"
    "calculs et les journaux de requêtes du moteur OLAP de référence."
)
_REFERENCE = (
    "Par manque de\nplace, seuls quelques tests sont présentés, le lecteur pourra se\n"
    "référer au rapport technique complet qui détaille chacun des résultats obtenus\n"
    "dans les annexes, et aux travaux antérieurs des mêmes auteurs sur le sujet\n"
    "(Aligon et al., 2010b)."
)
_HEADING = "Résultats du premier test"
_UNFINISHED = "Le premier test mesure la fréquence d'apparition de chaque opérateur de"
_FOOTNOTE = (
    "1 One can train models of different architectures and of different sizes for different needs, like the Faster\n"
    "R-CNN [28] and Mask R-CNN [12], each with the ResNet 50 or the ResNet 101 backbone."
)
_WRAPPED = "\n".join([_TESTS.replace("référence.", "référence. " + _REFERENCE.split("\n")[0]),
                      *_REFERENCE.split("\n")[1:], _HEADING, _UNFINISHED])


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
    # in text hard-wrapped at a width (PDF), a line filled to it goes on whatever the
    # next line opens with: a capital, an acronym, a bracket; a shorter line does not
    (_WRAPPED, [_TESTS, _REFERENCE, _HEADING, _UNFINISHED]),
    # a footnote's longer lines (smaller type) are filled too
    (_WRAPPED.replace(f"\n{_HEADING}\n{_UNFINISHED}", "\n" + _FOOTNOTE), [_TESTS, _REFERENCE, _FOOTNOTE]),
    # text whose paragraphs are not wrapped has no width: a line without a full stop
    # before a capital is a heading
    ("Vous devez fournir les pièces suivantes pour la demande de la carte grise\nCarte d'identité",
     ["Vous devez fournir les pièces suivantes pour la demande de la carte grise", "Carte d'identité"]),
    # a blank line is a paragraph break, never a wrap...
    ("Premier paragraphe sans point\n\nsecond paragraphe.", ["Premier paragraphe sans point", "second paragraphe."]),
    ("Premier paragraphe sans point\n \nsecond paragraphe.", ["Premier paragraphe sans point", "second paragraphe."]),
    # ... but for a PDF block break: in hard-wrapped text, a line filled to the width
    # and a block going on in lower case (the foot of a column, then the next one)
    (_WRAPPED.replace(f"\n{_HEADING}\n{_UNFINISHED}", "").replace("\ndans les", "\n\ndans les"),
     [_TESTS, _REFERENCE.replace("\ndans les", "\n\ndans les")]),
    # ... not for a capital after it, nor after a short line (a heading)
    (_WRAPPED.replace(f"\n{_HEADING}\n{_UNFINISHED}", "").replace("\ndans les", "\n\nDans les"),
     [_TESTS, _REFERENCE.split("\ndans les")[0], "Dans les" + _REFERENCE.split("\ndans les")[1]]),
    (_WRAPPED.replace(f"\n{_HEADING}\n{_UNFINISHED}", f"\n{_HEADING}\n\nmesurés sur le journal."),
     [_TESTS, _REFERENCE, _HEADING, "mesurés sur le journal."]),
])
def test_sentences_of_page_text(text, sentences):
    assert [text[s:e] for s, e in lexical.sentence_spans(text)] == sentences


@pytest.mark.parametrize(("sentence", "reads"), [
    # a word hyphenated at a line end is joined when the whole word is a known one...
    ("un algo-\nrithme glouton", "un algorithme glouton"),
    ("l'ex-\nploitation des logs", "l'exploitation des logs"),
    # ... and keeps its hyphen when the hyphenated form is the word
    ("il peut-\nêtre là", "il peut-être là"),
    ("a well-\nknown trade-\noff", "a well-known trade-off"),
    # across a PDF block break too
    ("on improv-\n\ning the retrieval", "on improving the retrieval"),
    ("Jean-\nPierre signe", "Jean-Pierre signe"),
    ("la mesure hf-\nmeasure", "la mesure hf-measure"),
    # every other line break is a space
    ("se référer à\n(Aligon et al., 2010b).", "se référer à (Aligon et al., 2010b)."),
    ("Core 2 Duo \n  E8400", "Core 2 Duo E8400"),
    ("sans saut de ligne", "sans saut de ligne"),
])
def test_answer_sentences_read_as_prose(sentence, reads):
    assert lexical.readable(sentence) == reads
