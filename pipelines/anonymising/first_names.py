"""A lexicon of first names, for names that statistical NER misses ("Jouni Hahli").

The list is Jörg Michael's ``nam_dict.txt`` (about 46,000 first names from every
country, GNU FDL) as shipped by the ``gender-guesser`` package. Only the names are
used; an absent package means an empty lexicon (the rule is then off).
"""

from __future__ import annotations

from functools import lru_cache

from pipelines.anonymising.normalise import fold


@lru_cache(maxsize=1)
def first_names() -> frozenset[str]:
    """Folded (lower-case, accent-free) first names; empty when the package is missing."""
    try:
        from importlib.resources import files

        path = files("gender_guesser") / "data" / "nam_dict.txt"
        handle = path.open(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return frozenset()
    names: set[str] = set()
    with handle:
        for line in handle:
            if line.startswith("#") or len(line) < 30:
                continue
            name = line[3:29].strip()
            # "Jin+Sun" is written Jin Sun, Jin-Sun or JinSun
            for joined in {name.replace("+", " "), name.replace("+", "-"), name.replace("+", "")}:
                if len(joined) >= 3:
                    names.add(fold(joined))
    return frozenset(names)
