"""Language-light text units shared by retrieval scoring, answering and verification.

Everything here works on plain strings and returns offsets into the string it was
given, so callers can turn any unit back into an exact span of a stored page.

* ``sentence_spans`` — answer-sized sentence boundaries (the chunker's splitter, plus
  line breaks).
* ``Terms`` — the content words of a text, reduced to Snowball stems, with their
  informativeness weight taken from general word frequencies (``wordfreq``), so that
  "Ireland" counts more than "year" without any corpus statistics.
* ``numbers`` — numeric values normalised so that "16,684,172", "16 684 172" and
  "16684172" compare equal, and "8,5" (French decimal) equals "8.5"; ``quantities``
  the ones that are not part of a name ("COVID-19") or a reference marker ("[6]").
* ``named_tokens`` — tokens that must be copied exactly, not paraphrased:
  capitalised words inside a sentence, identifiers with digits, pseudonyms
  (``<PERSON_3>``).
* ``Anchors`` — the names and codes a question is about, which a document answering
  it must mention somewhere.
* ``negations`` — the negation cues of a text, for polarity checks.

No import-time work: stemmers, stop words and frequency tables load on first use and
are cached per language.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

SUPPORTED_LANGUAGES = ("fr", "en")
_SNOWBALL_NAMES = {"fr": "french", "en": "english"}

# A pseudonym written by the anonymiser, e.g. <PERSON_3> or <IBAN_CODE_12>.
PSEUDONYM_RE = re.compile(r"<[A-Z][A-Z_]*_\d+>")
_WORD_RE = re.compile(r"<[A-Z][A-Z_]*_\d+>|[^\W\d_]+(?:[-'’][^\W\d_]+)*|\d+", re.UNICODE)
# Numbers with thousands separators (comma, dot, space, narrow/no-break space) and
# an optional decimal part. A leading minus only when it is not a hyphen inside a word.
_NUMBER_RE = re.compile(
    r"(?<![\w.,])(?:(?<=\s)-|^-)?\d{1,3}(?:(?:[ \u00a0\u202f,.])\d{3})+(?:[.,]\d+)?(?!\d)"
    r"|(?<![\w.,])(?:(?<=\s)-|^-)?\d+(?:[.,]\d+)?(?!\d)",
    re.UNICODE,
)
_ELISION_RE = re.compile(r"^(?:l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu)['’]", re.IGNORECASE)

NEGATION_CUES = {
    "en": frozenset({"not", "no", "never", "none", "nor", "neither", "cannot", "without",
                     "n't", "nobody", "nothing", "nowhere"}),
    "fr": frozenset({"ne", "pas", "jamais", "aucun", "aucune", "ni", "sans", "rien",
                     "guère"}),
}


def fold(text: str) -> str:
    """Lower case without accents: the key under which words are compared."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# French subject inversion ("couvre-t-il", "est-elle", "a-t-on", "sont-ils"): the
# pronoun is cut off so that the verb matches its other forms ("couvrira").
_INVERSION_RE = re.compile(r"(?:-t)?-(?:il|ils|elle|elles|on|je|tu|nous|vous|ce)$", re.IGNORECASE)


def words(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) for each word, number or pseudonym of ``text``.

    French elisions are split off ("l'assuré" -> "assuré") and so are the pronouns of
    a French subject inversion ("couvre-t-il" -> "couvre"), so that the word itself
    matches its other occurrences.
    """
    out: list[tuple[str, int, int]] = []
    for m in _WORD_RE.finditer(text):
        token, start, end = m.group(0), m.start(), m.end()
        elided = _ELISION_RE.match(token)
        if elided and len(token) > elided.end():
            start += elided.end()
            token = token[elided.end():]
        inverted = _INVERSION_RE.search(token)
        if inverted and inverted.start() > 0:
            end -= len(token) - inverted.start()
            token = token[: inverted.start()]
        out.append((token, start, end))
    return out


def hyphen_parts(token: str) -> list[str]:
    """The parts of a hyphenated word ("Marie-Antoinette" -> ["Marie", "Antoinette"]);
    [] for a plain word."""
    parts = [p for p in token.split("-") if p]
    return parts if len(parts) > 1 else []


# -- languages ------------------------------------------------------------------------------


def detect_language(text: str, default: str = "en") -> str:
    """'fr' or 'en' for ``text`` (py3langid restricted to the languages we serve)."""
    try:
        identifier = _langid()
    except ImportError:  # pragma: no cover - py3langid is a runtime requirement
        return default
    if not text.strip():
        return default
    lang, _ = identifier.classify(text)
    return lang if lang in SUPPORTED_LANGUAGES else default


@lru_cache(maxsize=1)
def _langid():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    identifier.set_languages(list(SUPPORTED_LANGUAGES))
    return identifier


# -- sentences ------------------------------------------------------------------------------


_LINE_RE = re.compile(r"[^\n]+")
_MAX_SENTENCE_CHARS = 500


def sentence_spans(text: str, *, wrap_width: int | None = None) -> list[tuple[int, int]]:
    """Answer-sized sentence boundaries of ``text`` as ``(start, end)`` offsets, in order.

    The chunker's rule-based splitter, plus two rules that keep answers short and
    readable: a line break ends a sentence (headings, list items and table rows of
    parsed documents carry no full stop) unless it is a soft wrap, i.e. the line does not
    end with punctuation and the next one starts with a lower-case letter (PDF text
    breaks lines inside sentences: "La\nfranchise s'élève à 150 euros."); and a sentence
    longer than 500 characters is cut at a line break or a space. Invariants: spans are
    sorted, disjoint, trimmed and non-empty, and cover every non-blank character.

    ``wrap_width``: the width the text's page is hard-wrapped at (``wrap_width``; 0:
    none), when known; by default it is estimated from ``text`` itself, which a short
    passage (a page's last lines) may be too short to show.
    """
    from pipelines.chunking.sentences import split_long_span, split_sentences

    spans: list[tuple[int, int]] = []
    flat = unwrapped(text, wrap_width=wrap_width)
    for base, end in _wrapped_lines(text, wrap_width):
        line = [(base + start, base + stop) for start, stop in split_sentences(flat[base:end])]
        for i in range(len(line) - 1, 0, -1):
            # "Non. Le vol n'est pas couvert." is one answer: a bare
            # reply word says nothing without the sentence that explains it.
            if _REPLY_RE.fullmatch(text[slice(*line[i - 1])]):
                line[i - 1 : i + 1] = [(line[i - 1][0], line[i][1])]
        for start, stop in line:
            spans.extend(split_long_span(text, start, stop, _MAX_SENTENCE_CHARS))
    return spans


_REPLY_WORD = r"(?:oui|non|yes|no)"

_REPLY_RE = re.compile(_REPLY_WORD + r"\s*[.!]", re.IGNORECASE)
"""A sentence that is only a reply word ("Oui.", "No!")."""

REPLY_OPENING_RE = re.compile(_REPLY_WORD + r"\b(?!-)(?!\.?\s*\d)", re.IGNORECASE)
"""A sentence that opens with a reply word: the direct answer to a closed question
("Oui, si votre situation change"); not "Non-résident" nor "No. 5" (a number)."""


# A line that may continue on the next: it ends inside a sentence (a word, a number, a
# comma, a closing bracket or quote, a hyphen), not with . ! ? : ; or a list marker.
_SOFT_WRAP_END_RE = re.compile(r"[\w,)\]»”’'-]$")
# What a wrapped sentence may go on with on its next line besides a lower-case word: a
# capitalised word or acronym, a number, a bracket, a pseudonym, a quotation mark.
_WRAP_CONTINUATION_RE = re.compile(r"[^\W\d_]|\d|[(\[<«“\"']")
_MIN_WRAPPED_LINES = 4
"""Lines filled to the width, at least, in a text that counts as hard-wrapped..."""
_WRAPPED_SHARE = 0.3
"""... and at least this share of its lines (the last one aside)..."""
_MIN_KNOWN_WRAPS = 2
"""... of which at least this many go on in lower case on the next line (wrapped for
sure: a list of items of about one length has none)."""
_FULL_LINE_SHARE = 0.85
"""A line within this share of the wrap width (85 % to 115 %) shows the width; a line
of at least 85 % of it was filled to it (its break is a wrap)."""


def unwrapped(text: str, *, wrap_width: int | None = None) -> str:
    """``text`` with each soft-wrap line break (``_wrapped_lines``) made a space: same
    length, same offsets. A sentence splitter reading it does not take the wrapped
    rest of a sentence for a heading ("chaque opérateur de\nQSL dans ...").
    ``wrap_width`` as in ``sentence_spans``."""
    runs = _wrapped_lines(text, wrap_width)
    if all("\n" not in text[a:b] for a, b in runs):
        return text
    chars = list(text)
    for a, b in runs:
        for i in range(a, b):
            if chars[i] == "\n":
                chars[i] = " "
    return "".join(chars)


def _wrap_width(lengths: Sequence[int]) -> int | None:
    """The width a text is hard-wrapped at, from the lengths of its lines but the
    last, or None: the lines filled to it, within ``_FULL_LINE_SHARE``, must be most
    of them (``_WRAPPED_SHARE``) and at least ``_MIN_WRAPPED_LINES``. PDF text is
    wrapped so; paragraphs, headings and list items of HTML or plain text are lines
    of every length."""
    lengths = sorted(n for n in lengths if n > 0)
    if len(lengths) < _MIN_WRAPPED_LINES:
        return None
    longer_half = lengths[len(lengths) // 2:]
    width = longer_half[len(longer_half) // 2]
    filled = sum(1 for n in lengths if _fills(n, width))
    return width if filled >= max(_MIN_WRAPPED_LINES, _WRAPPED_SHARE * len(lengths)) else None


def _fills(length: int, width: int) -> bool:
    """A line of ``length`` characters was filled to ``width`` (within ``_FULL_LINE_SHARE``)."""
    return _FULL_LINE_SHARE * width <= length <= (2 - _FULL_LINE_SHARE) * width


def wrap_width(text: str) -> int:
    """The width ``text`` is hard-wrapped at, 0 when it is not: most of its lines are
    about as long (``_wrap_width``) and some of those are seen to go on in lower case
    (a list of items of about one length is not wrapped)."""
    lines = [m.span() for m in _LINE_RE.finditer(text)]
    width = _wrap_width([len(text[a:b].strip()) for a, b in lines[:-1]])
    if width is None:
        return 0
    known = sum(1 for a, b in pairwise(lines)
                if _breakable(text, a, b) and _opens_lower(text, b) and _fills(len(text[a[0]:a[1]].strip()), width))
    return width if known >= _MIN_KNOWN_WRAPS else 0


def _breakable(text: str, previous: tuple[int, int], line: tuple[int, int], *, across_blocks: bool = False) -> bool:
    """``line`` follows ``previous`` after one line break (or, ``across_blocks``, after
    a blank line too), ``previous`` ends inside a sentence, and neither is a table row.
    Spaces around the break do not matter ("sur internet \n a été adoptée")."""
    return (text[previous[1]:line[0]] in (("\n", "\n\n") if across_blocks else ("\n",))
            and _SOFT_WRAP_END_RE.search(text[previous[0]:previous[1]].rstrip()) is not None
            and "|" not in text[previous[0]:line[1]])


def _opens_lower(text: str, line: tuple[int, int]) -> bool:
    return text[line[0]:line[1]].lstrip()[:1].islower()


def _wrapped_lines(text: str, known_width: int | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` of the lines of ``text``, a soft-wrapped line joined to the next.

    A line is soft-wrapped when it ends inside a sentence, the next line follows
    directly after one line break and either starts with a lower-case letter (after
    a blank line too, when the text is hard-wrapped and the line filled to the width:
    a PDF block break), or (in
    a text hard-wrapped at a width, as PDF text is) the line was filled to that width
    and the next one starts like the rest of a sentence ("se référer à\n(Aligon et
    al., 2010b)", "chaque opérateur de\nQSL"). The width is ``known_width`` (that of
    the page ``text`` is cut from), else ``wrap_width(text)``: headings are shorter
    than it, and a text of unwrapped paragraphs or list items has none. Table rows
    (cells joined by ``|``, as the parsers render tables) are never joined.
    """
    lines = [m.span() for m in _LINE_RE.finditer(text)]
    width = wrap_width(text) if known_width is None else known_width
    runs: list[tuple[int, int]] = []
    last_line: tuple[int, int] | None = None
    for line in lines:
        lower = _opens_lower(text, line)
        # A blank line is a paragraph break, but in hard-wrapped (PDF) text a line filled
        # to the width and a block going on in lower case are one sentence cut by a
        # block break: the foot of a column, a figure ("which can\n\nbe answered").
        filled = bool(width) and last_line is not None and (
            len(text[last_line[0]:last_line[1]].strip()) >= _FULL_LINE_SHARE * width)
        if runs and last_line is not None and _breakable(text, last_line, line, across_blocks=lower and filled) and (
            lower
            or (width
                # Longer than the width is filled too: a footnote's smaller type fits
                # more on its lines than the body the width was measured on.
                and len(text[last_line[0]:last_line[1]].strip()) >= _FULL_LINE_SHARE * width
                and _WRAP_CONTINUATION_RE.match(text[line[0]:line[1]].lstrip()) is not None)
        ):
            runs[-1] = (runs[-1][0], line[1])
        else:
            runs.append(line)
        last_line = line
    return runs


# -- terms ----------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _stemmer(lang: str):
    from nltk.stem.snowball import SnowballStemmer

    return SnowballStemmer(_SNOWBALL_NAMES.get(lang, "english"))


def stop_words(lang: str) -> frozenset[str]:
    """Folded stop words of ``lang`` (spaCy's): words that say nothing of a subject."""
    return _stop_words(lang)


@lru_cache(maxsize=4)
def _stop_words(lang: str) -> frozenset[str]:
    if lang == "fr":
        from spacy.lang.fr.stop_words import STOP_WORDS
    else:
        from spacy.lang.en.stop_words import STOP_WORDS
    # Question words and auxiliaries matter to nobody's evidence.
    return frozenset(fold(w) for w in STOP_WORDS)


@lru_cache(maxsize=65536)
def _zipf(word: str, lang: str) -> float:
    try:
        from wordfreq import zipf_frequency
    except ImportError:  # pragma: no cover - wordfreq is a runtime requirement
        return 3.0
    return zipf_frequency(word, lang)


# A word broken across two lines with a hyphen ("algo-\nrithme", "peut-\nêtre"), or
# across two blocks of a PDF page ("improv-\n\ning", ``_wrapped_lines``).
_LINE_BREAK_HYPHEN_RE = re.compile(r"([^\W\d_]+)-[ \t]*\n(?:[ \t]*\n)?[ \t]*([^\W\d_]+)")
_LINE_BREAK_RE = re.compile(r"[ \t]*\n\s*")


def dehyphenated(text: str) -> str:
    """``text`` with each word broken by a hyphen at a line end made whole again: joined
    ("algo-\nrithme" -> "algorithme") when the joined word is a known one and at least
    as common as the hyphenated form, else with its hyphen and no line break
    ("peut-\nêtre" -> "peut-être", "hf-\nmeasure" -> "hf-measure")."""
    if "-" not in text or "\n" not in text:
        return text

    def rejoin(m: re.Match) -> str:
        head, tail = m.group(1), m.group(2)
        joined, hyphenated = head + tail, f"{head}-{tail}"
        if tail[0].islower():
            joined_zipf = max(_zipf(joined.lower(), lang) for lang in SUPPORTED_LANGUAGES)
            if joined_zipf > 0 and joined_zipf >= max(_zipf(hyphenated.lower(), lang) for lang in SUPPORTED_LANGUAGES):
                return joined
        return hyphenated

    return _LINE_BREAK_HYPHEN_RE.sub(rejoin, text)


def readable(text: str) -> str:
    """A sentence of page text as an answer reads it: ``dehyphenated``, and every other
    line break a space. A citation keeps the exact text."""
    if "\n" not in text:
        return text
    return _LINE_BREAK_RE.sub(" ", dehyphenated(text))


NUMBER_WEIGHT = 3.0

RESPELL_MIN_CHARS = 7
"""A word or stem read as a typo of another one edit away has this many letters at
least: shorter ones are one edit away from too many other words."""


def term_weight(word: str, lang: str) -> float:
    """How much finding ``word`` in a passage says about it (rare words say more).

    ``7 - zipf`` clipped to [0.5, 5]: "the" (zipf 7.7) weighs 0.5, "year" (6.0) 1,
    "Ireland" (4.6) 2.4, unknown words and codes 5.
    """
    if word.isdigit() or PSEUDONYM_RE.fullmatch(word):
        return 5.0
    zipf = max(_zipf(word.lower(), lang), _zipf(word.lower(), "en" if lang == "fr" else "fr") - 1.0)
    return min(5.0, max(0.5, 7.0 - zipf))


@lru_cache(maxsize=131072)
def stem(word: str, lang: str) -> str:
    """Folded Snowball stem (pseudonyms and digits unchanged). Cached: every ask stems
    the same passages' words again, and Snowball costs ~60 µs a word."""
    if PSEUDONYM_RE.fullmatch(word) or word.isdigit():
        return word
    stemmed = fold(_stemmer(lang).stem(word.lower()))
    if lang == "fr" and len(stemmed) >= 5 and stemmed.endswith("us"):
        # Snowball keeps the plural s after u: "vendus" stays vendus while "vendu",
        # "vendue" and "vendues" give vendu. Dropped on every word alike, so "virus"
        # and "surplus" still match themselves.
        stemmed = stemmed[:-1]
    return stemmed


@dataclass(frozen=True)
class Terms:
    """Content words of a text: stem -> weight (stop words and 1-letter words dropped;
    hyphenated words split into their parts).

    Numbers are terms too, keyed ``#<normalised value>`` with ``NUMBER_WEIGHT``.
    """

    weights: dict[str, float]

    @staticmethod
    def of(text: str, lang: str) -> Terms:
        stops = _stop_words(lang)
        weights: dict[str, float] = {}
        # "les années 30" is one term, the decade: neither "années" nor "30"
        in_decades = [m.span() for m in _DECADE_RE.finditer(text)]
        for word, start, _ in words(text):
            if any(a <= start < b for a, b in in_decades):
                continue
            # A hyphenated word counts by its parts, which ``all_stems`` finds whether
            # the other text hyphenates them or not.
            for token in hyphen_parts(word) or [word]:
                key = fold(token)
                if len(key) < 2 or key.isdigit() or key in stops:
                    continue
                s = stem(token, lang)
                weights[s] = max(weights.get(s, 0.0), term_weight(token, lang))
        for m in _NUMBER_RE.finditer(text):
            if not any(a <= m.start() < b for a, b in in_decades):
                weights["#" + _normalise_number(m.group(0))] = NUMBER_WEIGHT
        for decade in decades(text):
            weights[decade] = NUMBER_WEIGHT  # "les années 30": any year of it, not "30"
        return Terms(weights)

    @staticmethod
    def of_question(question: str, lang: str, *, focus_weight: float = 0.5) -> Terms:
        """``Terms.of`` a question, with its answer-type noun ("En quelle *année*",
        "Quels *documents* fournir", "Which *year*") weighed ``focus_weight`` times as
        much: the answer names the thing asked for rather than repeating the noun
        ("le constat amiable", "en 2015")."""
        terms = Terms.of(question, lang)
        focus = {stem(m.group(1), lang) for m in _FOCUS_NOUN_RE.finditer(question)}
        return Terms({s: w * focus_weight if s in focus else w for s, w in terms.weights.items()})

    @property
    def total(self) -> float:
        return sum(self.weights.values())

    def coverage_in(self, other: Terms | set[str]) -> float:
        """Weighted share of these terms found in ``other`` (1.0 when there are none)."""
        keys = other.weights if isinstance(other, Terms) else other
        total = self.total
        if total == 0:
            return 1.0
        return sum(w for s, w in self.weights.items() if s in keys) / total

    def respelled_as(self, vocabulary: set[str], *, min_chars: int = RESPELL_MIN_CHARS) -> Terms:
        """These terms with each one absent from ``vocabulary`` replaced by the single
        vocabulary stem one edit away (insertion, deletion, substitution or swap of
        neighbours), same first letter, when there is exactly one: a typo in a question
        ("sousription") should not read as a missing subject. Stems shorter than
        ``min_chars`` and numbers are never respelled (short words are one edit away
        from too many others)."""
        respelled: dict[str, float] = {}
        for term, weight in self.weights.items():
            if term not in vocabulary and len(term) >= min_chars and not term.startswith("#"):
                near = [v for v in vocabulary
                        if abs(len(v) - len(term)) <= 1 and v[:1] == term[:1] and _one_edit(term, v)]
                if len(near) == 1:
                    term = near[0]
            respelled[term] = max(respelled.get(term, 0.0), weight)
        return Terms(respelled)

    def weighted_by_rarity(self, sentences: Sequence[set[str]], boost: float) -> Terms:
        """These terms with each weight times ``1 + boost * r``, where ``r`` in [0, 1] is
        the term's rarity among ``sentences`` (the stems of each candidate sentence):
        ``log(n / df) / log(n)``, 1 for a term no sentence holds. A question's subject,
        named by every sentence of the passages retrieved for it, then tells them apart
        less than the word only the answer holds ("thèse" in "Sur qui X a-t-il fait une
        thèse ?"). Unchanged with fewer than two sentences."""
        n = len(sentences)
        if n < 2 or boost <= 0:
            return self
        weights = {}
        for term, weight in self.weights.items():
            df = sum(1 for stems in sentences if term in stems)
            rarity = math.log(n / df) / math.log(n) if df else 1.0
            weights[term] = weight * (1.0 + boost * rarity)
        return Terms(weights)

    def missing_from(self, other: Terms | set[str]) -> list[str]:
        keys = other.weights if isinstance(other, Terms) else other
        return [s for s in self.weights if s not in keys]


# The noun right after an interrogative determiner; "quel est", "which is" and "what
# does" ask about what follows the verb instead, so a verb or article there is skipped.
_FOCUS_NOUN_RE = re.compile(
    r"\b(?:quel|quelle|quels|quelles|which|what)\s+"
    r"(?!(?:est|sont|était|étaient|sera|seront|fut|furent|a|ont|avait|is|are|was|were|do|does|did"
    r"|can|could|will|would|should|has|have|had|may|might|must|the|a|an|le|la|les|l|un|une)\b)"
    r"([^\W\d_]{2,})",
    re.IGNORECASE,
)


# Suffixes that make a place's adjective or inhabitant from its name (Europe ->
# européen, Norvège -> norvégien, Italy -> Italian), which Snowball stems keep apart.
_PLACE_ADJECTIVE_SUFFIXES = ("een", "ien", "ais", "ois", "ain", "an", "ian", "ese", "ish")


def place_adjectives(vocabulary: set[str], terms: Terms, *, min_chars: int = 4) -> dict[str, str]:
    """Stems of ``vocabulary`` that are the adjective of a place among ``terms`` (stem of
    ``min_chars`` or more), mapped to that place: "un sinistre survenu en Europe" is
    found in "la carte européenne d'assurance" (Snowball stems keep europ and europeen
    apart; the scorer counts them as each other with ``with_aliases``)."""
    places = [t for t in terms.weights if len(t) >= min_chars and not t.startswith("#")]
    return {s: t for s in vocabulary for t in places
            if s.startswith(t) and s[len(t):] in _PLACE_ADJECTIVE_SUFFIXES}


def alias_stems(aliases: dict[str, str], lang: str) -> list[tuple[frozenset[str], frozenset[str]]]:
    """(stems of one form, stems of the other) per pair of equivalent forms (see
    ``with_aliases``): a pseudonym and the value it stands for, an abbreviation and
    its long form. Pairs with an empty side are left out."""
    out = []
    for short, long in aliases.items():
        a, b = frozenset(all_stems(short, lang)), frozenset(all_stems(long, lang))
        if a and b and a != b:
            out.append((a, b))
    return out


def compounds(question: str, vocabulary: set[str], lang: str) -> dict[str, str]:
    """Two adjacent words of ``question`` -> the one word a text writes them as, when
    its stem is in ``vocabulary`` (the stems of the passages read): "Layout Parser" ->
    "LayoutParser", "Power Point" -> "PowerPoint". As ``alias_stems`` pairs, a sentence
    holding the one word holds both of the question's. Stop words take no part: "is land"
    is not "island", nor "in to" "into"."""
    stop = _stop_words(lang)
    tokens = [(w, start, end) for w, start, end in words(question)
              if not PSEUDONYM_RE.fullmatch(w) and not w.isdigit() and len(w) >= 2]
    out: dict[str, str] = {}
    for (first, _, first_end), (second, second_start, _) in pairwise(tokens):
        if question[first_end:second_start].strip(" \t-"):
            continue  # not adjacent: punctuation or a skipped token between them
        if fold(first) in stop or fold(second) in stop:
            continue
        joined = first + second
        if stem(joined, lang) in vocabulary:
            out[f"{first} {second}"] = joined
    return out


def with_aliases(stems: set[str], aliases: list[tuple[frozenset[str], frozenset[str]]]) -> set[str]:
    """``stems`` plus the other form of every pair one of whose forms they hold whole:
    a sentence naming a value in clear holds what the question's token stands for, and
    "CQ and HCQ" holds the "Chloroquine(CQ)" a question names."""
    extra: set[str] = set()
    for a, b in aliases:
        if a <= stems:
            extra |= b
        elif b <= stems:
            extra |= a
    return stems | extra if extra else stems


_ABBREVIATION_RE = re.compile(r"([^\W\d_][\w\-]*(?:[ \t]+[^\W\d_][\w\-]*){0,5})[ \t]*\(([A-Z][A-Za-z0-9\-]{1,7})\)")


def abbreviations(text: str) -> dict[str, str]:
    """Abbreviation -> long form, where ``text`` defines one in parentheses:
    "Chloroquine(CQ)", "acute respiratory infections (ARI)". The long form is the run
    of words before the parenthesis whose initials spell the abbreviation, or the one
    word before it when it starts with the abbreviation's first letter."""
    out: dict[str, str] = {}
    for m in _ABBREVIATION_RE.finditer(text):
        words_before, abbreviation = m.group(1).split(), m.group(2)
        if sum(c.isupper() for c in abbreviation) < 2:
            continue  # "(Inc)", "(Note)": not an abbreviation
        letters = [c.lower() for c in abbreviation if c.isalpha()]
        initials = "".join(w[0].lower() for w in words_before[-len(letters):])
        if len(words_before) >= len(letters) > 1 and initials == "".join(letters):
            out[abbreviation] = " ".join(words_before[-len(letters):])
        elif words_before[-1][0].lower() == letters[0]:
            out[abbreviation] = words_before[-1]
    return out


def _one_edit(a: str, b: str) -> bool:
    """``a`` and ``b`` differ by exactly one insertion, deletion, substitution or swap
    of two neighbouring characters."""
    if a == b:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b)) if x != y]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    if len(long_) - len(short) != 1:
        return False
    i = next((k for k, (x, y) in enumerate(zip(short, long_)) if x != y), len(short))
    return short[i:] == long_[i + 1:]


def all_stems(text: str, lang: str) -> set[str]:
    """Stems of every word of ``text`` (stop words included), of the parts of its
    hyphenated words ("Marie-Antoinette" is found by "Marie Antoinette") and its
    numbers as ``#value``: the 'found in' side of a coverage test."""
    found: set[str] = set()
    for token, _, _ in words(text):
        if token.isdigit():
            continue
        found.add(stem(token, lang))
        found.update(stem(part, lang) for part in hyphen_parts(token))
    values = numbers(text)
    found.update("#" + value for value in values)
    # the decade of every year: "747 en 1930" is in "les années 30"
    found.update(f"#{value[:3]}0s" for value in values if _YEAR_VALUE_RE.fullmatch(value))
    found.update(decades(text))
    return found


# A decade: "les années 30", "années 1930", "the 1930s", "the '30s". Two digits are read
# in the 1900s (the "années 20" of an encyclopaedia are the 1920s).
_DECADE_RE = re.compile(
    r"\bann[ée]es\s+((?:1\d|20)?\d0)(?![\d,.])"
    r"|(?<!\w)['’]?((?:1\d|20)?\d0)['’]?s\b",
    re.IGNORECASE,
)
_YEAR_VALUE_RE = re.compile(r"1\d{3}|20\d\d")


def decades(text: str) -> list[str]:
    """The decades ``text`` names, as terms: "les années 30" and "the 1930s" -> "#1930s"
    (``all_stems`` also gives every year its decade's term)."""
    out = []
    for m in _DECADE_RE.finditer(text):
        value = m.group(m.lastindex)
        out.append(f"#{'19' + value if len(value) == 2 else value}s")
    return out


# -- numbers, names, negations --------------------------------------------------------------


def _normalise_number(raw: str) -> str:
    s = raw.replace("\u00a0", " ").replace("\u202f", " ")
    negative = s.startswith("-")
    s = s.lstrip("-")
    groups = re.split(r"[ ,.]", s)
    if len(groups) > 1 and all(len(g) == 3 for g in groups[1:]) and 1 <= len(groups[0]) <= 3:
        # Thousands separators only ("16,684,172", "40 366", "1.000").
        # Ambiguous "8.600"/"8,600" read as thousands, the common case in reports.
        value = "".join(groups)
    else:
        m = re.fullmatch(r"(.*?)[.,](\d+)", s)
        if m:
            value = re.sub(r"[ ,.]", "", m.group(1)) + "." + m.group(2)
        else:
            value = re.sub(r"[ ,.]", "", s)
    if "." in value:
        value = value.rstrip("0").rstrip(".")
    value = value.lstrip("0") or "0"
    if value.startswith("."):
        value = "0" + value
    return ("-" if negative else "") + value


def numbers(text: str) -> list[str]:
    """Normalised numeric values of ``text`` in order ("$16,684,172" -> "16684172")."""
    return [_normalise_number(m.group(0)) for m in _NUMBER_RE.finditer(text)]


# Reference markers of scientific text: "[6]", "[14, 15]", "[3-5]".
_REFERENCE_RE = re.compile(r"\[\s*\d+(?:\s*[,;–-]\s*\d+)*\s*\]")


def quantities(text: str) -> list[str]:
    """``numbers`` that state a quantity, a date or an amount: not the digits of a name
    ("COVID-19", "SARS-CoV-2", "MKP-1", "2019-nCoV") nor a reference marker ("[14, 15]").
    What a question asking "how many" or "when" is answered with."""
    references = [m.span() for m in _REFERENCE_RE.finditer(text)]
    out = []
    for m in _NUMBER_RE.finditer(text):
        start, end = m.span()
        if start >= 2 and text[start - 1] == "-" and text[start - 2].isalpha():
            continue
        if text[end:end + 1] == "-" and text[end + 1:end + 2].isalpha():
            continue
        if any(a <= start and end <= b for a, b in references):
            continue
        out.append(_normalise_number(m.group(0)))
    return out


_SENTENCE_END_RE = re.compile(r"[.!?:\n]\s*$")
# "M. Lefort", "Dr. Smith": the full stop of a title does not end a sentence.
_HONORIFIC_RE = re.compile(r"(?<![\w.])(?:M|MM|Mr|Mrs|Ms|Dr|Mme|Mmes|Mlle|Me|Pr|Prof|St|Ste)\.\s*$")


def named_tokens(text: str) -> set[str]:
    """Folded tokens that must appear verbatim in evidence.

    A word counts as named when it is capitalised but not at the start of a sentence,
    is all capitals (acronyms), mixes letters and digits, or is a pseudonym.
    """
    out: set[str] = set()
    tokens = words(text)
    for i, (token, start, _) in enumerate(tokens):
        if PSEUDONYM_RE.fullmatch(token):
            out.add(token)
            continue
        if token.isdigit():
            continue
        before = text[max(0, start - 40):start]
        starts_sentence = i == 0 or (_SENTENCE_END_RE.search(before) is not None
                                     and _HONORIFIC_RE.search(before) is None)
        if len(token) >= 2 and (
            (token[0].isupper() and not starts_sentence)
            or (token.isupper() and len(token) >= 2)
            or any(c.isdigit() for c in token)
        ):
            out.add(fold(token))
    return out


# Month and day names are capitalised in English but dates are written in many ways
# ("as of December 31, 2019" over a column headed "2019", "FY18" in a report that
# writes "2017/18"): they are not anchors, nor are fiscal periods, nor titles ("Dr."
# Smith may be "Doctor Smith" in the document: Smith is the anchor).
_NOT_ANCHORS = frozenset({
    "fy", "cy", "ytd",
    "mr", "mrs", "ms", "dr", "mm", "mme", "mmes", "mlle", "me", "pr", "prof",
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "monday", "tuesday", "wednesday", "thursday", "friday",
    "saturday", "sunday",
    "janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre",
    "octobre", "novembre", "decembre", "lundi", "mardi", "mercredi", "jeudi", "vendredi",
    "samedi", "dimanche",
})
# Identifiers mixing letters and digits, hyphens inside ("H1N1", "IFRS9", "FY18",
# "COVID-19", "SARS-CoV-2"), but not ordinals ("8eme", "2nd", "21st").
_CODE_RE = re.compile(r"(?<![\w-])(?=[\w-]*\d)(?=[\w-]*[^\W\d_])\w+(?:-\w+)*")
_ORDINAL_RE = re.compile(r"\d+(?:e|er|re|eme|ème|nde?s?|st|nd|rd|th)", re.IGNORECASE)
_PERIOD_RE = re.compile(r"(?:FY|CY|Q[1-4]|H[12]|S[12]|T[1-4])(?:[-']?\d{2,4})?", re.IGNORECASE)


# Words of a folded text: pseudonyms (lower-cased by folding) or runs of letters.
_FOLDED_WORD_RE = re.compile(r"<[a-z][a-z_]*_\d+>|[^\W\d_]+")
_JOINER_RE = re.compile(r"[-'’]")


def _compact(text: str, *, folded: bool = False) -> str:
    """Folded letters and digits only: "IFRS 9", "IFRS-9" and "IFRS9" are all ifrs9
    (``folded``: ``text`` is folded already)."""
    return re.sub(r"[\W_]+", "", text if folded else fold(text))


@dataclass(frozen=True)
class Anchors:
    """What a question is about by name: the names, acronyms, pseudonyms and codes that
    a document answering it must mention somewhere (``named_tokens`` without calendar
    words and titles, plus identifiers with digits, which ``words`` splits apart).

    "Quel est le rang de UCL en 2019 ?" is not answered by a paper that never names
    UCL, however well its sentences cover "rang" and "2019". The test is lenient on
    purpose (a whole document, any inflection or derived form): it only rules out
    documents that do not name the subject at all.
    """

    names: frozenset[str]
    """Folded words (pseudonyms as written)."""
    codes: frozenset[str]
    """Compacted identifiers (``_compact``)."""
    runs: tuple[tuple[str, ...], ...] = ()
    """Names written next to each other in the question ("Layout Parser"), in order:
    one name the document may write as a single word ("LayoutParser", "PowerPoint")."""

    @classmethod
    def of_question(cls, question: str) -> Anchors:
        names = frozenset(n for n in named_tokens(question) if n not in _NOT_ANCHORS)
        codes = frozenset(
            _compact(m.group(0)) for m in _CODE_RE.finditer(PSEUDONYM_RE.sub(" ", question))
            if not _ORDINAL_RE.fullmatch(m.group(0)) and not _PERIOD_RE.fullmatch(m.group(0))
        )
        runs: list[tuple[str, ...]] = []
        run: list[str] = []
        previous_end = None
        for token, start, end in words(question):
            key = fold(token)
            # Adjacent: only blanks or a hyphen between them ("Layout Parser", "Open-AI").
            adjacent = previous_end is not None and re.fullmatch(r"[ \t-]*", question[previous_end:start])
            if key in names and not key.startswith("<") and (adjacent or not run):
                run.append(key)
            else:
                if len(run) >= 2:
                    runs.append(tuple(run))
                run = [key] if key in names and not key.startswith("<") else []
            previous_end = end
        if len(run) >= 2:
            runs.append(tuple(run))
        return cls(names, codes, tuple(runs))

    def __bool__(self) -> bool:
        return bool(self.names or self.codes)

    def missing_from(self, text: str, lang: str, aliases: dict[str, str] | None = None) -> set[str]:
        """The anchors ``text`` does not mention (empty when it mentions them all).

        A name is mentioned as the same folded word, the same stem, or a word opening
        with its stem ("Norvège" in "norvégien", "Europe" in "européenne"); a pseudonym
        as itself or, through ``aliases`` (token -> the value as the question writes
        it), as the value's words in clear; a code as a substring of the compacted
        text; a name of five letters or more also one typo away; a short name (an
        acronym) also as the initials of consecutive words
        ("EU" in "the European Union", "OMS" in "l'Organisation mondiale de la santé");
        names next to each other in the question as one word ("Layout Parser" in
        "LayoutParser"), and a long name as consecutive words ("PowerPoint" in "Power
        Point").
        """
        if not self:
            return set()
        # Whole documents pass through here: one regex pass over the folded text, and
        # stems only for the few words that open like a missing name.
        folded = fold(text)
        sequence = _FOLDED_WORD_RE.findall(folded)
        found_words = set(sequence)

        def mentioned(name: str) -> bool:
            key = fold(name)
            if key in found_words:
                return True
            if key.startswith("<"):  # a pseudonym is only ever itself
                return False
            parts = _JOINER_RE.split(key)
            if len(parts) > 1:  # "sars-cov", "frozen’s": each part of two letters or more
                return all(mentioned(part) for part in parts if len(part) >= 2)
            root = stem(key, lang)
            opening = [w for w in found_words if w.startswith(root)]
            if len(root) >= 4 and opening:
                return True
            if any(stem(w, lang) == root for w in opening):
                return True
            if len(key) >= 5 and any(_one_edit(key, w) for w in found_words
                                     if w[:1] == key[:1] and abs(len(w) - len(key)) <= 1):
                return True  # a typo in the question ("Musevni")
            if len(key) >= 6 and _split_in(key, sequence):
                return True  # "LayoutParser" asked, "Layout Parser" written
            return 2 <= len(key) <= 6 and key.isalpha() and _initials_in(key, sequence)

        missing = set()
        for name in self.names:
            if mentioned(name):
                continue
            value = (aliases or {}).get(name)
            if value is not None and all(mentioned(w) for w, _, _ in words(value) if len(w) >= 2):
                continue
            missing.add(name)
        for run in self.runs:
            # "Layout Parser" asked, "LayoutParser" written: the document names each of
            # them as one word made of two or more of them in a row.
            for i in range(len(run)):
                for j in range(i + 2, len(run) + 1):
                    if _JOINER_RE.sub("", "".join(run[i:j])) in found_words:
                        missing.difference_update(run[i:j])
        if self.codes:
            compact = _compact(folded, folded=True)
            missing.update(code for code in self.codes if code not in compact)
        return missing


def _split_in(name: str, sequence: Sequence[str], *, max_parts: int = 3) -> bool:
    """``name`` is two to ``max_parts`` consecutive words of ``sequence`` written
    together, each of two letters or more ("powerpoint" in "power point")."""
    for i, first in enumerate(sequence):
        if len(first) < 2 or not name.startswith(first) or len(first) == len(name):
            continue
        joined = first
        for word in sequence[i + 1 : i + max_parts]:
            if len(word) < 2:
                break
            joined += word
            if joined == name:
                return True
            if not name.startswith(joined):
                break
    return False


def _initials_in(acronym: str, sequence: Sequence[str], *, max_skipped: int = 2) -> bool:
    """Some run of consecutive words of ``sequence`` opens with the letters of
    ``acronym`` in order, short words (3 letters or fewer: "de", "la", "of") skipped up
    to ``max_skipped`` in a row."""
    for i, first in enumerate(sequence):
        if not first.startswith(acronym[0]):
            continue
        k, skipped = 1, 0
        for j in range(i + 1, len(sequence)):  # indices: no copy of the rest per start
            word = sequence[j]
            if k == len(acronym):
                break
            if word.startswith(acronym[k]):
                k, skipped = k + 1, 0
            elif len(word) <= 3 and skipped < max_skipped:
                skipped += 1
            else:
                break
        if k == len(acronym):
            return True
    return False


def negations(text: str, lang: str) -> set[str]:
    """Negation cues present in ``text`` (both languages' cues for an unknown language)."""
    cues = NEGATION_CUES.get(lang, NEGATION_CUES["en"] | NEGATION_CUES["fr"])
    found = {fold(t) for t, _, _ in words(text)} & cues
    if re.search(r"n['’]t\b", text, re.IGNORECASE):
        found.add("n't")
    # French "n'" (n'est pas): the elision is split off by words(); look for it here.
    if lang == "fr" and re.search(r"\bn['’]", text, re.IGNORECASE):
        found.add("ne")
    return found


def has_negation(text: str, lang: str) -> bool:
    return bool(negations(text, lang))


def informative_terms(text: str, lang: str, *, min_weight: float = 2.0) -> Terms:
    """Only the rarer content words (weight >= ``min_weight``)."""
    terms = Terms.of(text, lang)
    return Terms({s: w for s, w in terms.weights.items() if w >= min_weight})


def cosine(a, b) -> float:
    """Cosine of two 1-d vectors (0.0 when one is all zeros)."""
    import numpy as np

    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0 or nb == 0 or math.isnan(na) or math.isnan(nb):
        return 0.0
    return float(a @ b) / (na * nb)
