"""Second-stage scoring signals (``pipelines.retrieval.PassageScorer``), without an
embedder: each row is a question, one passage, and what the scorer must see in it."""

from __future__ import annotations

import pytest

from pipelines.retrieval import PassageScorer
from pipelines.types import ScoredChunk


def _chunk(text: str, *, page: int = 1, start: int = 0, cid: str = "c", **payload) -> ScoredChunk:
    return ScoredChunk(cid, 0.5, {"text": text, "page": page, "start": start, "end": start + len(text),
                                  "document_id": "d", **payload})


def _sentences(question: str, text: str, lang: str, **chunk) -> dict[str, object]:
    (passage,) = PassageScorer().score(question, [_chunk(text, **chunk)], lang=lang)
    return {s.text: s for s in passage.sentences}


@pytest.mark.parametrize(("question", "lang", "text", "answer_type"), [
    # who / where / a name: a sentence holding a name the question does not
    ("Qui a signé le contrat ?", "fr",
     "Le contrat a été signé par Jean Dupont. Le contrat a été signé hier.",
     {"Le contrat a été signé par Jean Dupont.": 1.0, "Le contrat a été signé hier.": 0.0}),
    ("Where is the head office of Acme?", "en",
     "Acme has its head office in Lyon. Acme has a head office.",
     {"Acme has its head office in Lyon.": 1.0, "Acme has a head office.": 0.0}),
    # how many: a number the question does not hold, not the digits of a name or a reference
    ("How many deaths from COVID-19 were reported?", "en",
     "COVID-19 deaths were reported [4]. COVID-19 caused 250 deaths.",
     {"COVID-19 deaths were reported [4].": 0.0, "COVID-19 caused 250 deaths.": 1.0}),
    # "qui" / "who" inside a question are relative pronouns, not what it asks
    ("Quels sont les documents qui prouvent le sinistre ?", "fr",
     "Le constat signé par Jean Dupont prouve le sinistre.",
     {"Le constat signé par Jean Dupont prouve le sinistre.": 0.0}),
    ("Sur qui l'assureur a-t-il exercé son recours ?", "fr",
     "Son recours portait sur Paul Garnier. Son recours portait sur la franchise.",
     {"Son recours portait sur Paul Garnier.": 1.0, "Son recours portait sur la franchise.": 0.0}),
    ("By whom was the contract signed?", "en",
     "The contract was signed by Jane Smith.",
     {"The contract was signed by Jane Smith.": 1.0}),
    # a closed question: a sentence that opens with a reply word
    ("Peut-on résilier le contrat en cours d'année ?", "fr",
     "Oui, si votre situation change. Le contrat peut être résilié.",
     {"Oui, si votre situation change.": 1.0, "Le contrat peut être résilié.": 0.0}),
    ("Is theft covered?", "en",
     "No. Theft is excluded from the basic policy. Nonetheless theft is covered abroad.",
     {"No. Theft is excluded from the basic policy.": 1.0, "Nonetheless theft is covered abroad.": 0.0}),
    # "No." before a number abbreviates "number"
    ("Is theft covered?", "en",
     "No. 5 of the schedule covers theft.",
     {"No. 5 of the schedule covers theft.": 0.0}),
    # an open question: a reply word is no answer type
    ("Quand peut-on résilier le contrat ?", "fr",
     "Oui, si votre situation change.",
     {"Oui, si votre situation change.": 0.0}),
    # neither: no answer-type signal
    ("Pourquoi le contrat a-t-il été résilié ?", "fr",
     "Le contrat a été résilié par Jean Dupont en 2020.",
     {"Le contrat a été résilié par Jean Dupont en 2020.": 0.0}),
])
def test_answer_type_signal(question, lang, text, answer_type):
    sentences = _sentences(question, text, lang)
    assert {t: sentences[t].numeric for t in answer_type} == answer_type


@pytest.mark.parametrize(("page", "start", "lead"), [
    (1, 0, 0.1),       # the opening of a document
    (1, 300, 0.05),    # decays with the character offset
    (1, 2700, 0.01),
    (2, 0, 0.0),       # later pages get nothing
])
def test_lead_prior(page, start, lead):
    text = "La franchise est de 150 euros."
    (sentence,) = _sentences("Quelle est la franchise ?", text, "fr", page=page, start=start).values()
    assert sentence.lead == pytest.approx(lead)


def test_lead_prior_is_part_of_the_score():
    text = "La franchise est de 150 euros."
    at_top = _sentences("Quelle est la franchise ?", text, "fr", start=0)[text]
    later = _sentences("Quelle est la franchise ?", text, "fr", page=3)[text]
    assert at_top.score - later.score == pytest.approx(at_top.lead)


def test_a_typo_in_the_question_does_not_read_as_a_missing_subject():
    (passage,) = PassageScorer().score(
        "Où la sousription du contrat est-elle faite ?",
        [_chunk("La souscription du contrat est faite en agence.")], lang="fr")
    assert passage.evidence == pytest.approx(1.0)


@pytest.mark.parametrize(("question", "text", "evidence"), [
    # two words of the question that the passage writes as one
    ("What does Layout Parser detect?", "LayoutParser detects layouts.", 1.0),
    ("How are Power Point slides parsed?", "PowerPoint slides are parsed as pages.", 1.0),
    # only adjacent words: "layout" and "parser" apart in the question are not "layoutparser"
    ("Which parser handles the layout?", "LayoutParser is a toolkit.", 0.0),
    # stop words are not halves of a compound: "is land" is not "island"
    ("Where is land scarce?", "The island is small.", 0.0),
])
def test_two_words_of_the_question_written_as_one(question, text, evidence):
    (passage,) = PassageScorer().score(question, [_chunk(text)], lang="en")
    assert passage.evidence == pytest.approx(evidence, abs=0.01)


def test_a_table_row_is_read_with_its_header():
    table = ("Years ended March 31, | 2024 | 2023\n"
             "Policies in force, beginning of the year | 18,240 | 17,905\n"
             "Issued | 3,412 | 2,876\n"
             "Lapsed | (2,087) | (2,541)")
    sentences = _sentences("How many policies were issued in 2024?", table, "en")
    issued = sentences["Issued | 3,412 | 2,876"]
    assert issued.numeric == 1.0          # 2024 is in the header, not in the row
    assert issued.lexical > sentences["Lapsed | (2,087) | (2,541)"].lexical


def test_the_row_holding_the_value_outranks_its_header_and_prose_about_the_year():
    text = ("December 31, | 2019 | 2018\n"
            "Land | $1,949 | $2,185\n"
            "Buildings and leasehold improvements | 138,755 | 129,582\n\n"
            "There was no material bad debt expense in 2019, 2018 and 2017.")
    sentences = _sentences("What was the amount for Land in 2019?", text, "en")
    best = max(sentences.values(), key=lambda s: s.score)
    assert best.text == "Land | $1,949 | $2,185"


@pytest.mark.parametrize(("text", "header_of_last"), [
    ("A | 2019 | 2018\nB | 1 | 2\nC | 3 | 4", 0),
    # a short sub-heading inside the table keeps it one table
    ("A | 2019 | 2018\nBasic earnings per share (cents)\nC | 3 | 4", 0),
    # a full sentence ends the table: the next rows start another one
    ("A | 2019 | 2018\nThe figures below are audited.\nC | 2020 | 2021\nD | 5 | 6", 2),
    # the first row of a table has no header of its own
    ("Intro sentence.\nA | 2019 | 2018", None),
    # column headers leave the row-label cell empty: the one naming years heads the rows
    (("Year ended December 31, | Year ended December 31,\n2019 | 2018\n(In millions) | (In millions)\n"
      "Patent costs | (1) | (8)"), 1),
    ("2019 | 2018\n£m | £m\nNet debt | 295.2 | 235.8\nNet debt to EBITDA | 0.9 | 0.8", 0),
    # without a year, the first of them
    ("Q1 | Q2\nEUR | EUR\nPremiums | 4 | 5", 0),
    # a first row holding amounts is a data row (the header is in another chunk)
    ("Basic earnings per share | 1,305.7 | 1,300.5\nContinuing operations | 114.3 | 123.4", None),
    ("Operating activities | $(618) | $(3,908)\nInvesting activities | - | -", None),
    ("Up to 1 year | 1 to 3 years | Total\nLeases | 16,164 | 19,812 | 48,410", 0),
])
def test_table_headers(text, header_of_last):
    from pipelines.lexical import sentence_spans
    from pipelines.retrieval import table_headers

    assert table_headers(text, sentence_spans(text))[-1] == header_of_last


@pytest.mark.parametrize(("question", "closed"), [
    ("Peut-on résilier le contrat à tout moment ?", True),
    ("Un avenant signé en ligne engage-t-il l'assuré ?", True),
    ("Est-ce que la franchise s'applique ?", True),
    ("Is a scanned signature sufficient?", True),
    ("Does the policy cover theft?", True),
    ("Sinistre auto : quel délai pour le déclarer ?", False),
    ("Comment déclarer un sinistre ?", False),
    ("Qu'est-ce qu'une franchise ?", False),
    ("What is the deductible?", False),
    ("Que faire quand un dégât des eaux touche le voisin ?", False),
])
def test_is_yes_no_question(question, closed):
    from pipelines.retrieval import is_yes_no_question

    assert is_yes_no_question(question) is closed


class _RecordingEmbedder:
    """Embeds every text as the same unit vector and records what it was asked."""

    name, version, dimension = "recording", "1", 2

    def __init__(self) -> None:
        self.documents: list[str] = []

    def embed_query(self, text):
        import numpy as np

        return np.array([1.0, 0.0], dtype=np.float32)

    def embed_documents(self, texts):
        import numpy as np

        self.documents.extend(texts)
        return np.tile(np.array([1.0, 0.0], dtype=np.float32), (len(texts), 1))


def test_similarity_reads_each_sentence_with_the_one_before_it():
    embedder = _RecordingEmbedder()
    text = "La franchise est un montant fixe. Elle reste à la charge de l'assuré."
    PassageScorer(embedder).score("À quoi sert la franchise ?", [_chunk(text)], lang="fr")
    assert sorted(embedder.documents) == sorted([
        "La franchise est un montant fixe.",
        "La franchise est un montant fixe. Elle reste à la charge de l'assuré.",
    ])


@pytest.mark.parametrize(("text", "aliases", "lexical"), [
    # the question's token, written in clear in this passage: found with the alias
    ("Zanamivir reduced viral titers.", {"<PERSON_5>": "Zanamivir"}, 1.0),
    ("<PERSON_5> reduced viral titers.", {"<PERSON_5>": "Zanamivir"}, 1.0),
    # without the alias the clear value is not the token
    ("Zanamivir reduced viral titers.", {}, 0.67),
    # every word of the value must be there
    ("Anne reduced viral titers.", {"<PERSON_5>": "Anne Roux"}, 0.67),
])
def test_a_value_written_in_clear_counts_as_its_pseudonym(text, aliases, lexical):
    question = "Did <PERSON_5> reduce viral titers?"
    (passage,) = PassageScorer().score(question, [_chunk(text)], lang="en", aliases=aliases)
    (sentence,) = passage.sentences
    assert sentence.lexical == pytest.approx(lexical, abs=0.01)


def test_an_abbreviation_the_question_defines_counts_as_its_long_form():
    question = "How do Chloroquine(CQ) and Hydroxychloroquine(HCQ) act?"
    (passage,) = PassageScorer().score(question, [_chunk("CQ and HCQ act as weak bases.")], lang="en")
    (sentence,) = passage.sentences
    assert sentence.lexical == 1.0


TITLED_PAPER = ("Etiology of respiratory infections in the community and clinic in Ilorin, Nigeria\n\n"
                "We performed a cross-sectional study in Ilorin, Nigeria.")
LATER_CHUNK = ("Children were recruited in three community centres. "
               "The most common virus detected in community samples was Coronavirus OC43.")


def _scored(question: str, chunks: list[ScoredChunk]) -> dict[str, object]:
    return {s.text: s for p in PassageScorer().score(question, chunks, lang="en") for s in p.sentences}


def test_a_documents_title_holds_for_its_later_sentences():
    question = "What was the most common virus detected in community samples in Ilorin, Nigeria?"
    answer = "The most common virus detected in community samples was Coronavirus OC43."
    place_only = "We performed a cross-sectional study in Ilorin, Nigeria."
    later = _chunk(LATER_CHUNK, page=3, start=0, cid="later")
    # the same candidates, the opening chunk on page 1 (a title) or on page 2 (none)
    with_title = _scored(question, [_chunk(TITLED_PAPER, cid="opening"), later])
    without = _scored(question, [_chunk(TITLED_PAPER, page=2, cid="opening"), later])
    assert without[answer].context_lexical < 1.0
    assert with_title[answer].context_lexical == pytest.approx(1.0)
    assert with_title[answer].lexical > without[answer].lexical
    # and the answer outranks the sentence that only names the place
    assert with_title[answer].score > with_title[place_only].score


@pytest.mark.parametrize(("first_line", "is_title"), [
    ("Etiology of respiratory infections in Ilorin, Nigeria", True),
    ("The study was performed in Ilorin, Nigeria.", False),   # a sentence, not a heading
    ("Results in Ilorin, Nigeria:", False),                  # announces what follows
    ("Ilorin, Nigeria | 2019 | 2018", False),                # a table row
])
def test_what_reads_as_a_title(first_line, is_title):
    from pipelines.retrieval import _document_titles

    titles = _document_titles([_chunk(first_line + "\n\nMore text.")], "en", [])
    assert bool(titles) is is_title


def test_a_word_only_the_answer_holds_weighs_more_in_its_own_coverage():
    from pipelines.retrieval import ScoringWeights

    text = ("Museveni dirige l'Ouganda depuis 1986. Museveni a privatisé la banque du peuple. "
            "Sa thèse de doctorat portait sur Frantz Fanon.")
    question = "Sur qui Museveni a-t-il fait sa thèse ?"

    def sentences(rarity):
        (passage,) = PassageScorer(weights=ScoringWeights(rarity=rarity)).score(question, [_chunk(text, page=2)],
                                                                              lang="fr")
        return {s.text[:12]: s for s in passage.sentences}

    plain, weighted = sentences(0.0), sentences(1.0)
    assert weighted["Sa thèse de "].lexical > plain["Sa thèse de "].lexical
    assert weighted["Museveni dir"].lexical < plain["Museveni dir"].lexical
    # the context coverage (the evidence abstention reads) keeps the plain weights
    assert {k: s.context_lexical for k, s in weighted.items()} == {k: s.context_lexical for k, s in plain.items()}


# The last lines of a PDF page: too few to show the page is wrapped at ~90 characters.
_PAGE_TAIL = (
    "Dans cet article, nous développons les travaux entrepris sur le résumé de log de requêtes\n"
    "OLAP (Aligon et al., 2010a), où nous proposions un langage de résumé de requêtes."
)


@pytest.mark.parametrize(("payload", "sentences"), [
    # the width of its page, recorded at ingestion, keeps the wrapped sentence whole
    ({"wrap_width": 90}, [_PAGE_TAIL]),
    # a page that is not wrapped, and a chunk ingested before the width was recorded
    ({"wrap_width": 0}, _PAGE_TAIL.split("\n")),
    ({}, _PAGE_TAIL.split("\n")),
])
def test_sentences_of_a_passage_follow_its_page_wrap_width(payload, sentences):
    assert list(_sentences("Que développe cet article ?", _PAGE_TAIL, "fr", start=2279, **payload)) == sentences


@pytest.mark.parametrize(("question", "asks_quantity"), [
    ("How many MAPK phosphatases exist?", True),
    ("What percentage of claims were settled?", True),
    # the noun may come after the verb
    ("What was the prevalence of Coronavirus OC43 in community samples?", True),
    ("What is the rate of return?", True),
    ("Quel est le taux de TVA applicable ?", True),
    ("Quelle est la part des femmes ?", True),
    ("Quel est l'âge légal de départ ?", True),
    ("What is the name of the insurer?", False),
    ("Quel est le partage des responsabilités ?", False),
    ("What is carrageenan?", False),
])
def test_questions_asking_for_a_quantity(question, asks_quantity):
    from pipelines.retrieval import _QUANTITY_QUESTION_RE

    assert bool(_QUANTITY_QUESTION_RE.search(question)) is asks_quantity
