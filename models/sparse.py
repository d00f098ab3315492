"""Lexical sparse vectors (BM25-style term weights) for hybrid retrieval.

The document side carries saturated, length-normalised term frequencies; the
inverse document frequency is computed by Qdrant over the collection
(``Modifier.IDF`` on the sparse vector), so adding documents never requires
re-encoding the others.

Tokens are language-aware: lower-cased, accents folded, French/English stop words
removed, Snowball-stemmed. Numbers are kept (amounts, dates and policy numbers are
what users search for): ``1.250,00``, ``1,250.00`` and ``125000`` give the same token,
leading zeros are dropped (``03`` == ``3``). Pseudonyms such as ``<PERSON_3>`` stay one
token so that a pseudonymised question matches pseudonymised passages.

Term ids are ``crc32(token) & 0x7FFFFFFF``: stable across processes and Python
versions (never ``hash()``, which is salted per process). Colliding tokens add up.

Bump ``version`` whenever tokens change: the index must then be rebuilt.
"""

from __future__ import annotations

import re
import threading
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence

from pipelines.lexical import RESPELL_MIN_CHARS
from pipelines.types import SparseVector

# Snowball's stop-word lists (snowballstem.org), accents folded like the tokens.
FRENCH_STOP_WORDS = frozenset(
    """
    au aux avec ce ces dans de des du elle en et eux il ils je la le les leur lui ma mais me
    meme mes moi mon ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te
    tes toi ton tu un une vos votre vous c d j l a m n s t y ete etee etees etes etant etante
    etants etantes suis es est sommes etes sont serai seras sera serons serez seront serais
    serait serions seriez seraient etais etait etions etiez etaient fus fut fumes futes
    furent sois soit soyons soyez soient fusse fusses fut fussions fussiez fussent ayant
    ayante ayantes ayants eu eue eues eus ai as avons avez ont aurai auras aura aurons aurez
    auront aurais aurait aurions auriez auraient avais avait avions aviez avaient eut eumes
    eutes eurent aie aies ait ayons ayez aient eusse eusses eussions eussiez eussent ceci
    cela celle celles celui ceux cet cette ici leurs quel quelle quelles quels sans soi
    """.split()
)
ENGLISH_STOP_WORDS = frozenset(
    """
    i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which
    who whom this that these those am is are was were be been being have has had having do
    does did doing would should could ought i'm you're he's she's it's we're they're i've
    you've we've they've i'd you'd he'd she'd we'd they'd i'll you'll he'll she'll we'll
    they'll isn't aren't wasn't weren't hasn't haven't hadn't doesn't don't didn't won't
    wouldn't shan't shouldn't can't cannot couldn't mustn't let's that's who's what's here's
    there's when's where's why's how's a an the and but if or because as until while of at
    by for with about against between into through during before after above below to from
    up down in out on off over under again further then once here there when where why how
    all any both each few more most other some such no nor not only own same so than too
    very s t can will just don should now
    """.split()
)

_ALPHABET = "abcdefghijklmnopqrstuvwxyz"


def one_edit_variants(word: str) -> set[str]:
    """Every string one deletion, insertion, substitution or swap of neighbours away
    from ``word`` (over a-z: tokens are folded), ``word`` itself left out."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out |= {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
    out |= {a + c + b[1:] for a, b in splits if b for c in _ALPHABET}
    out |= {a + c + b for a, b in splits for c in _ALPHABET}
    out.discard(word)
    return out


_TOKEN = re.compile(
    r"<[A-Za-z][A-Za-z0-9_]*>"  # pseudonym placeholder, kept whole
    r"|\d+(?:[.,]\d+)*"  # number with thousands/decimal separators
    r"|[^\W\d_]+"  # a run of letters (apostrophes and hyphens split words)
)
_SEPARATORS = re.compile(r"[.,]")
_MAX_TOKEN_CHARS = 40
_STEM_CACHE_SIZE = 200_000


def fold_accents(text: str) -> str:
    """Lower-case, strip combining marks ("Écuyer" -> "ecuyer"), fold ligatures (NFKD)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _raw_tokens(text: str) -> list[str]:
    tokens = []
    for token in _TOKEN.findall(fold_accents(text)):
        if token[0].isdigit():
            token = _SEPARATORS.sub("", token).lstrip("0") or "0"
        tokens.append(token[:_MAX_TOKEN_CHARS])
    return tokens


def guess_language(tokens: Iterable[str]) -> str | None:
    """'fr', 'en', or None when no stop word tells them apart (cheap, no model)."""
    french = english = 0
    for token in tokens:
        french += token in FRENCH_STOP_WORDS
        english += token in ENGLISH_STOP_WORDS
    if french == english:
        return None
    return "fr" if french > english else "en"


class LexicalSparseEncoder:
    """``SparseEncoder`` with BM25 document weights and binary query weights.

    ``k1`` and ``b`` are BM25's saturation and length-normalisation constants;
    ``average_length`` is the expected number of content tokens in a chunk (length
    normalisation needs one and the index computes none).

    Documents are stemmed in their detected language (both languages when the text
    gives no clue); queries are stemmed in both, so a short question matches a passage
    whichever language it was filed under.
    """

    version = "1"

    def __init__(
        self,
        name: str = "bm25-lexical",
        *,
        k1: float = 1.2,
        b: float = 0.75,
        average_length: float = 80.0,
    ) -> None:
        self.name = name
        self.k1 = k1
        self.b = b
        self.average_length = average_length
        self._stemmers: dict[str, object] | None = None
        self._stem_cache: dict[str, dict[str, str]] = {}
        self._lock = threading.Lock()  # snowballstemmer objects keep per-call state

    # -- tokens -------------------------------------------------------------------
    def _stem_words(self, words: list[str], language: str) -> list[str]:
        """Snowball stems, memoised: stemming is pure Python and dominated the encode
        time, while a corpus reuses a small vocabulary."""
        with self._lock:
            if self._stemmers is None:
                import snowballstemmer

                self._stemmers = {
                    "fr": snowballstemmer.stemmer("french"),
                    "en": snowballstemmer.stemmer("english"),
                }
                self._stem_cache = {"fr": {}, "en": {}}
            cache = self._stem_cache[language]
            missing = [w for w in dict.fromkeys(words) if w not in cache]
            if missing:
                if len(cache) + len(missing) > _STEM_CACHE_SIZE:
                    cache.clear()
                stems = self._stemmers[language].stemWords(missing)  # type: ignore[attr-defined]
                cache.update(zip(missing, stems))
            return [cache[w] for w in words]

    def tokens(self, text: str, *, languages: Sequence[str] | None = None) -> list[str]:
        """Content tokens of ``text`` in order (stems; numbers and pseudonyms as is).

        ``languages`` forces the stemmers; by default the text's guessed language
        (both when unknown). Stop words of every stemming language are dropped.
        """
        raw = _raw_tokens(text)
        if languages is None:
            guessed = guess_language(raw)
            languages = (guessed,) if guessed else ("fr", "en")
        stop_words: frozenset[str] = frozenset().union(
            *(FRENCH_STOP_WORDS if lang == "fr" else ENGLISH_STOP_WORDS for lang in languages)
        )
        words: list[str] = []
        kept: list[str] = []  # numbers and placeholders: never stemmed
        order: list[tuple[bool, int]] = []
        for token in raw:
            if token[0].isdigit() or token[0] == "<":
                order.append((False, len(kept)))
                kept.append(token)
            elif len(token) > 1 and token not in stop_words:
                order.append((True, len(words)))
                words.append(token)
        stems_by_language = [self._stem_words(words, lang) for lang in languages]
        result: list[str] = []
        for is_word, i in order:
            if not is_word:
                result.append(kept[i])
                continue
            seen = set()
            for stems in stems_by_language:
                if stems[i] not in seen:
                    seen.add(stems[i])
                    result.append(stems[i])
        return result

    # -- vectors ------------------------------------------------------------------
    @staticmethod
    def term_id(token: str) -> int:
        return zlib.crc32(token.encode("utf-8")) & 0x7FFFFFFF

    def _vector(self, weights: dict[str, float]) -> SparseVector:
        by_id: dict[int, float] = {}
        for token, weight in weights.items():
            term = self.term_id(token)
            by_id[term] = by_id.get(term, 0.0) + weight
        ids = sorted(by_id)
        return SparseVector(indices=tuple(ids), values=tuple(float(by_id[i]) for i in ids))

    def encode_documents(self, texts: Sequence[str]) -> list[SparseVector]:
        vectors = []
        for text in texts:
            tokens = self.tokens(text)
            counts = Counter(tokens)
            norm = self.k1 * (1 - self.b + self.b * len(tokens) / self.average_length)
            vectors.append(
                self._vector({t: tf * (self.k1 + 1) / (tf + norm) for t, tf in counts.items()})
            )
        return vectors

    def encode_query(self, text: str) -> SparseVector:
        """Each distinct query term weighs 1 (BM25 ignores query tf); stems of both languages."""
        return self._vector({token: 1.0 for token in self.tokens(text, languages=("fr", "en"))})

    def encode_respellings(self, words: Sequence[str]) -> SparseVector:
        """A query of every spelling one edit away from the stems of ``words`` (both
        languages), each weighing 1: a typo in a question ("carageenan") finds the word
        the documents write ("carrageenan"). Only the spellings some document holds
        match; the index weighs each by its rarity. Stems shorter than
        ``RESPELL_MIN_CHARS`` are left out (one edit away from too many other words)."""
        weights: dict[str, float] = {}
        for token in self.tokens(" ".join(words), languages=("fr", "en")):
            if len(token) >= RESPELL_MIN_CHARS and token.isalpha() and token.isascii():
                weights.update(dict.fromkeys(one_edit_variants(token), 1.0))
        return self._vector(weights)
