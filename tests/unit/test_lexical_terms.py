"""Content words, numbers and their matching, as the passage scorer, the abstention
signal and the verifier see them."""

from __future__ import annotations

import math

import pytest

from pipelines import lexical


@pytest.mark.parametrize(("text", "expected"), [
    # French subject inversion: the verb alone, so that it matches its other forms
    ("assure-t-il", ["assure"]),
    ("est-elle versée", ["est", "versée"]),
    ("A t-on accès", ["A", "t", "accès"]),
    ("a-t-on accès", ["a", "accès"]),
    ("sont-ils d'astreinte", ["sont", "astreinte"]),
    # elision, hyphenated names and fixed phrases are left whole
    ("l'Isère", ["Isère"]),
    ("Saint-Nazaire", ["Saint-Nazaire"]),
    ("peut-être", ["peut-être"]),
])
def test_words(text, expected):
    found = lexical.words(text)
    assert [w for w, _, _ in found] == expected
    assert all(text[s:e] == w for w, s, e in found)


@pytest.mark.parametrize(("text", "lang", "terms"), [
    ("Saint-Nazaire", "fr", {"saint", "nazair"}),      # hyphenated: by its parts
    ("peut-être", "fr", set()),                         # parts that are stop words
    # apostrophes are not hyphens: a contraction stays one word
    ("Why isn't the claim covered?", "en", {"isn't", "claim", "cover"}),
    ("aujourd'hui", "fr", {"aujourd'hui"}),
])
def test_content_terms(text, lang, terms):
    assert set(lexical.Terms.of(text, lang).weights) == terms


@pytest.mark.parametrize(("question", "passage", "found"), [
    # hyphenated either side
    ("Saint Nazaire", "l'agence de Saint-Nazaire", True),
    ("Saint-Nazaire", "l'agence de Saint Nazaire", True),
    ("Avec qui signe-t-il ?", "Il signera aux côtés de son associé.", True),
    ("L'assureur est-il d'accord ?", "L'expert n'est pas d'accord.", False),
])
def test_coverage_across_hyphens_and_inversions(question, passage, found):
    terms = lexical.Terms.of(question, "fr")
    coverage = terms.coverage_in(lexical.all_stems(passage, "fr"))
    assert (coverage == 1.0) is found


@pytest.mark.parametrize(("question", "passage", "lang", "found"), [
    # a decade is found in any of its years, however either side writes it
    ("Combien de communes dans les années 30 ?", "il y avait encore 747 communes en 1930", "fr", True),
    ("Combien de communes dans les années 1930 ?", "747 communes en 1934", "fr", True),
    ("How many towns in the 1930s?", "747 towns by 1939", "en", True),
    ("How many towns in the '30s?", "747 towns in the 1930s", "en", True),
    ("Combien de communes dans les années 30 ?", "747 communes en 1940", "fr", False),
    # a number that is no decade stays itself
    ("Combien d'élèves sur 30 ?", "30 élèves", "fr", True),
    ("Combien d'élèves sur 30 ?", "1930 élèves", "fr", False),
])
def test_decades(question, passage, lang, found):
    coverage = lexical.Terms.of(question, lang).coverage_in(lexical.all_stems(passage, lang))
    assert (coverage == 1.0) is found


@pytest.mark.parametrize(("a", "b", "one_edit"), [
    ("souscript", "sousript", True),      # deletion
    ("sousript", "souscript", True),      # insertion
    ("premium", "premiom", True),         # substitution
    ("recieve", "receive", True),         # neighbours swapped
    ("abcd", "abcd", False),              # identical
    ("abcd", "badc", False),              # two swaps
    ("abcdef", "abcdxyz", False),         # two edits
])
def test_one_edit(a, b, one_edit):
    assert lexical._one_edit(a, b) is one_edit


@pytest.mark.parametrize(("question", "vocabulary_text", "expected_keys"), [
    # a typo is read as the one word of the passages one edit away
    ("la sousription du contrat", "la souscription du contrat", {"souscript", "contrat"}),
    # two words one edit away: ambiguous, left as it is
    ("le contrat Optimaxe", "les contrats Optimax et Optimaxi", {"contrat", "optimax"}),
    # short words are never respelled (too many neighbours), nor numbers
    ("le tarif 2019", "le tarifs 2018", {"tarif", "#2019"}),
    # a word already present stays
    ("la franchise", "la franchise et la franchisé", {"franchis"}),
])
def test_respelled_as(question, vocabulary_text, expected_keys):
    terms = lexical.Terms.of(question, "fr")
    respelled = terms.respelled_as(lexical.all_stems(vocabulary_text, "fr"))
    assert set(respelled.weights) == expected_keys
    assert respelled.total == pytest.approx(terms.total)


@pytest.mark.parametrize(("question", "lang", "focus", "factor"), [
    # the noun right after an interrogative determiner is what the answer names
    ("En quelle année le contrat a-t-il été signé ?", "fr", "anne", 0.5),
    ("Quels documents faut-il fournir ?", "fr", "docu", 0.5),
    ("Which year was the policy signed?", "en", "year", 0.5),
    # "quel est le ...", "what does ...": the verb is skipped, nothing is the focus
    ("Quel est le montant de la franchise ?", "fr", "mont", 1.0),
    ("What does the policy cover?", "en", "polici", 1.0),
])
def test_question_focus_noun_weighs_less(question, lang, focus, factor):
    plain = lexical.Terms.of(question, lang).weights
    asked = lexical.Terms.of_question(question, lang).weights
    assert asked[focus] == pytest.approx(plain[focus] * factor)
    assert {s: w for s, w in asked.items() if s != focus} == {s: w for s, w in plain.items() if s != focus}


@pytest.mark.parametrize(("text", "quantities"), [
    ("10 people died", ["10"]),
    ("COVID-19 and SARS-CoV-2", []),
    ("IFRS-17 replaces IFRS-4", []),
    ("2022-HAB was renewed in 2023", ["2023"]),
    ("as reported [6] [14, 15] in 12 cases", ["12"]),
    ("the 3-5 year range", ["3", "5"]),
    ("fin 2018, 1 500 euros", ["2018", "1500"]),
    ("4.7% (95% CI 2.1-8.4%)", ["4.7", "95", "2.1", "8.4"]),
])
def test_quantities_leave_out_names_and_reference_markers(text, quantities):
    assert lexical.quantities(text) == quantities


@pytest.mark.parametrize(("question", "passage", "lang", "found"), [
    # a place in the question, its adjective in the passage
    ("un sinistre survenu en Europe", "la carte européenne d'assurance", "fr", {"europ"}),
    ("les assureurs de Norvège", "un assureur norvégien", "fr", {"norveg"}),
    ("sold in Italy", "an Italian insurer", "en", {"itali"}),
    # any other suffix is another word: "commun" is not "communiqu"
    ("les communes", "le communiqué", "fr", set()),
    # a word already present adds nothing
    ("l'Europe", "l'Europe et l'espace européen", "fr", set()),
])
def test_place_adjectives(question, passage, lang, found):
    stems = lexical.all_stems(passage, lang)
    adjectives = lexical.place_adjectives(stems, lexical.Terms.of(question, lang))
    pairs = [(frozenset([adjective]), frozenset([place])) for adjective, place in adjectives.items()]
    assert lexical.with_aliases(stems, pairs) - stems == found


@pytest.mark.parametrize(("words", "lang"), [
    # Snowball keeps the s of a plural past participle in -us, not of -ues
    (["vendus", "vendu", "vendue", "vendues"], "fr"),
    (["reçus", "reçu", "reçue"], "fr"),
    (["obtenus", "obtenu", "obtenue"], "fr"),
    # words that end in -us keep matching themselves
    (["surplus", "surplus"], "fr"),
])
def test_french_participles_share_a_stem(words, lang):
    assert len({lexical.stem(w, lang) for w in words}) == 1


@pytest.mark.parametrize(("text", "expected"), [
    ("Mechanism of Chloroquine(CQ) and Hydroxychloroquine(HCQ)?",
     {"CQ": "Chloroquine", "HCQ": "Hydroxychloroquine"}),
    ("risk factors of acute respiratory infections (ARI) in children", {"ARI": "acute respiratory infections"}),
    ("La responsabilité civile (RC) couvre-t-elle le prêt ?", {"RC": "responsabilité civile"}),
    # not abbreviations: one capital, a note, initials that do not match
    ("Apple (Inc) reported (Note 3).", {}),
    ("net debt to EBITDA (see note)", {}),
    ("the total (ABC) was low", {}),
])
def test_abbreviations(text, expected):
    assert lexical.abbreviations(text) == expected


@pytest.mark.parametrize(("aliases", "passage", "added"), [
    # either form found whole brings the other
    ({"CQ": "Chloroquine"}, "Both CQ and HCQ are weak bases.", {"chloroquin"}),
    ({"CQ": "Chloroquine"}, "Chloroquine is a weak base.", {"cq"}),
    ({"<PERSON_5>": "Anne Roux"}, "Anne Roux signed.", {"<PERSON_5>"}),
    # a form found in part brings nothing
    ({"<PERSON_5>": "Anne Roux"}, "Anne signed.", set()),
])
def test_with_aliases(aliases, passage, added):
    stems = lexical.all_stems(passage, "en")
    assert lexical.with_aliases(stems, lexical.alias_stems(aliases, "en")) - stems == added


@pytest.mark.parametrize(("sentences", "factors"), [
    # held by one sentence of four: full rarity, twice the weight
    ([{"a"}, {"b"}, {"b"}, {"b"}], {"a": 2.0, "b": 1 + math.log(4 / 3) / math.log(4)}),
    # held by every sentence: tells none apart, weight unchanged
    ([{"a", "b"}, {"a", "b"}], {"a": 1.0, "b": 1.0}),
    # held by none: as rare as can be
    ([{"c"}, {"c"}], {"a": 2.0, "b": 2.0}),
    # a single sentence: nothing to compare, unchanged
    ([{"a"}], {"a": 1.0, "b": 1.0}),
])
def test_weighted_by_rarity(sentences, factors):
    terms = lexical.Terms({"a": 3.0, "b": 1.5})
    weighted = terms.weighted_by_rarity(sentences, boost=1.0)
    assert {t: weighted.weights[t] / terms.weights[t] for t in terms.weights} == pytest.approx(factors)


@pytest.mark.parametrize(("text", "named"), [
    ("The claim was filed by Anne Roux in Quimper.", {"anne", "roux", "quimper"}),
    # a sentence's first word is not a name; a title's full stop does not end a sentence
    ("It ends. Then Anne left.", {"anne"}),
    ("Le dossier de M. Lefort est-il suivi ?", {"lefort"}),
    ("Signed by Dr. Smith.", {"dr", "smith"}),
    # acronyms and pseudonyms
    ("Paid 5 EUR to <PERSON_2>.", {"eur", "<PERSON_2>"}),
])
def test_named_tokens(text, named):
    assert lexical.named_tokens(text) == named


@pytest.mark.parametrize(("question", "names", "codes"), [
    ("quel est le rang de UCL en 2019 ?", {"ucl"}, set()),
    ("In 2009 what was the reported H1N1 vaccination rate in China?", {"china"}, {"h1n1"}),
    ("How is SARS-CoV-2 transmitted?", {"sars-cov"}, {"sarscov2"}),
    ("Sur qui <PERSON_3> a fait une thèse ?", {"<PERSON_3>"}, set()),
    ("Le dossier de M. Lefort est-il suivi par Mme Roux ?", {"lefort", "roux"}, set()),
    ("What is Layout Parser?", {"layout", "parser"}, set()),
    # no anchors: the opening word, dates, ordinals, plain numbers
    ("What is the net deferred tax liability as of December 31, 2019?", set(), set()),
    ("Comment s'appelle le 2eme élément de la 8eme colonne ?", set(), set()),
    ("What was the adjustment of the values in FY18 in accordance to?", set(), set()),
    ("What was the revenue in Q4-2019 and H1 2020?", set(), set()),
    ("Combien de communes en 1930 ?", set(), set()),
])
def test_question_anchors(question, names, codes):
    anchors = lexical.Anchors.of_question(question)
    assert (set(anchors.names), set(anchors.codes)) == (names, codes)


@pytest.mark.parametrize(("question", "text", "aliases", "missing"), [
    ("Quel est le rang de UCL en 2019 ?", "University College London (UCL) ranks tenth.", None, set()),
    ("Quel est le rang de UCL en 2019 ?", "The virus was identified in December 2019.", None, {"ucl"}),
    # inflected and derived forms: a place in its adjective, a possessive, a plural
    ("Quand la Norvège a-t-elle été condamnée par l'Europe ?",
     "Le gouvernement norvégien devant la Cour européenne", None, set()),
    ("What were Refrigerated & Frozen’s net sales?", "Refrigerated & Frozen segment", None, set()),
    # a typo in a long name, not in a short one
    ("Sur qui Musevni a-t-il fait une thèse ?", "Museveni a fait une thèse.", None, set()),
    ("Who runs Initech?", "Initek is run by Bill Lumbergh.", None, {"initech"}),
    # an acronym spelled by the initials of the words it stands for
    ("What does the EU require?", "The European Union requires it.", None, set()),
    ("Que recommande l'OMS ?", "L'Organisation mondiale de la santé recommande", None, set()),
    ("Que recommande l'OMS ?", "L'Organisation internationale du travail recommande", None, {"oms"}),
    # codes however they are spaced or hyphenated
    ("What is the 2018 IFRS9 opening balance?", "Under IFRS 9, the opening balance", None, set()),
    ("What was the H1N1 vaccination rate?", "The H7N9 virus spread.", None, {"h1n1"}),
    # a name of two words written as one, and the other way round; not two names apart
    ("What is Layout Parser?", "LayoutParser: A Unified Toolkit", None, set()),
    ("How does Power Point store tables?", "PowerPoint stores tables as shapes.", None, set()),
    ("What is LayoutParser?", "The Layout Parser toolkit", None, set()),
    ("Did Li meet Wu?", "Liwu brand.", None, {"li", "wu"}),
    ("What is Layout Parser?", "A page layout parsing toolkit", None, {"parser"}),
    # a pseudonym is mentioned as itself or as the value it stands for
    ("Sur qui <PERSON_3> a fait une thèse ?", "<PERSON_3> soutient une thèse.", None, set()),
    ("Sur qui <PERSON_3> a fait une thèse ?", "Yoweri Museveni soutient une thèse.",
     {"<PERSON_3>": "Yoweri Museveni"}, set()),
    ("Sur qui <PERSON_3> a fait une thèse ?", "Museveni soutient une thèse.",
     {"<PERSON_3>": "Yoweri Museveni"}, {"<PERSON_3>"}),
])
def test_anchors_missing_from(question, text, aliases, missing):
    lang = lexical.detect_language(question)
    assert lexical.Anchors.of_question(question).missing_from(text, lang, aliases) == missing
