"""Plain-text answer sentences: safe to show as text, inert if rendered as markdown or HTML.

Documents are untrusted (a PDF, an HTML page or a markdown file may carry images that a
renderer fetches, links, scripts or invisible characters), and so is an LLM's output.
An answer sentence is therefore reduced to plain text before it is verified and
returned, whichever generator wrote it. ``to_plain_text`` applies, until nothing changes:

1. markdown images (``![alt](url)``, ``![alt][ref]``, ``![alt][]``, ``![alt]``) and HTML
   ``<img>`` disappear with their alt text: an image is what a renderer fetches without
   a click (the EchoLeak exfiltration channel) and it carries no claim;
2. markdown links (``[text](url)``, ``[text][ref]``) and HTML ``<a>`` keep their text
   only; reference definitions (``[ref]: url "title"``) disappear; an autolink
   ``<url>`` becomes the bare URL, which rule 4 then judges;
3. HTML: ``script``, ``style``, ``iframe``, ``object``, ``embed``, ``noscript``,
   ``template``, ``svg``, ``math`` and ``textarea`` elements disappear with their
   content, comments and declarations disappear, every other tag is removed and its
   text kept;
4. a bare ``http(s)``/``ftp``/``www.`` URL stays only when the cited text *shows* it:
   as plain text once the cited text itself is reduced by these rules, not as the
   hidden target of a link, an image source or a reference definition (a reader of
   the source never sees those, and an image URL is what exfiltrates); ``data:``,
   ``javascript:``, ``vbscript:`` and ``file:`` URIs never stay;
5. chat-template tokens (``<|im_start|>``, ``[INST]``, ``<<SYS>>``...) disappear, and so
   do control and format characters (Unicode Cc except tab and newline, and Cf:
   zero-width characters, bidi embeddings, overrides and isolates, BOM, soft hyphen);
6. a leading markdown heading marker (``# ``) goes; where something was removed, runs
   of spaces collapse and no space is left before "." or ",". A sentence with nothing
   to remove comes out unchanged (apart from invisible characters).

Pseudonym tokens such as ``<PERSON_3>`` are kept: they carry no attribute and are
revealed for callers allowed to see PII.

Invariant: ``is_plain_text(to_plain_text(s, cited))`` for every ``s`` (a final pass
neutralises whatever the rules above could not rewrite, e.g. deeply nested markup).

Citation quotes are *not* rewritten: a quote is exactly the stored span (offsets and
highlighting depend on it), so clients must render quotes as text, never as HTML or
markdown.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

import regex

_MAX_PASSES = 8
"""Rewriting can expose new markup (``<scr<b></b>ipt>``); a few passes undo ordinary
nesting, and the final neutralisation handles the rest in linear time."""

# Tag with quoted attribute values (a ">" inside quotes does not end it).
_ATTRS = r"(?:[^<>\"']|\"[^\"]*\"|'[^']*')*"
_DROP_ELEMENTS = "script|style|iframe|object|embed|noscript|template|svg|math|textarea"
_DROP_OPEN_RE = re.compile(rf"<({_DROP_ELEMENTS})\b{_ATTRS}>", re.IGNORECASE)
_DROP_CLOSE_RE = re.compile(rf"</({_DROP_ELEMENTS})\s*>", re.IGNORECASE)
_COMMENT_RE = re.compile(r"<!--.*?(?:-->|$)|<![^<>]*>|<\?[^<>]*\?>", re.DOTALL)
_PSEUDONYM = r"<[A-Z][A-Z_]*_\d+>"
_PSEUDONYM_RE = re.compile(_PSEUDONYM)
_TAG_RE = re.compile(rf"(?!{_PSEUDONYM})</?[A-Za-z][\w:-]*{_ATTRS}/?>")
_AUTOLINK_RE = re.compile(r"<((?:[A-Za-z][A-Za-z0-9+.-]{1,31}:|www\.)[^<>\s]*|[^<>\s@]+@[^<>\s@]+)>")

_MD_IMAGE_RE = re.compile(
    r"!\[(?:[^\[\]]|\[[^\[\]]*\])*\]"  # ![alt] (alt may hold one level of brackets)
    r"(?:\((?:[^()\s]|\([^()]*\))*(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^()]*\)))?\s*\)"  # (url "title")
    r"|\[[^\[\]]*\])?"  # [ref] or []
)
_MD_LINK_RE = re.compile(
    r"\[(?P<text>(?:[^\[\]]|\[[^\[\]]*\])*)\]"
    r"(?:\(\s*<?(?:[^()\s<>]|\([^()]*\))*>?(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^()]*\)))?\s*\)"
    r"|\[[^\[\]]*\])"
)
_MD_DEFINITION_RE = re.compile(r"^[ \t]{0,3}\[[^\[\]]+\]:[ \t]*\S.*$", re.MULTILINE)

_URL_RE = re.compile(r"(?:https?://|ftp://|www\.)[^\s<>()\[\]\"']+", re.IGNORECASE)
# Only what is really a URI: "Personal data: name" and "file: report.pdf" are prose.
_UNSAFE_URI_RE = re.compile(
    r"\b(?:data:[\w.+-]*(?:/[\w.+-]+)?(?:;[\w.+=-]+)*,|(?:javascript|vbscript):(?=\S)|file://)"
    r"(?:[^\s<>()\[\]\"']|\([^()\s]*\))*",
    re.IGNORECASE,
)
_CHAT_TOKEN_RE = re.compile(r"<\|[^<>|]{0,64}\|>|\[/?INST\]|<</?SYS>>", re.IGNORECASE)

# What ``is_plain_text`` refuses.
_MARKUP_LEFT_RE = re.compile(
    rf"!\[|\]\(|\]\[|(?!{_PSEUDONYM})<[A-Za-z!/?]|<\||\|>|^[ \t]{{0,3}}\[[^\[\]]+\]:", re.MULTILINE
)
_INVISIBLE_RE = regex.compile(r"[\p{Cf}\p{Cc}--[\t\n]]", regex.V1)
_HEADING_RE = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+", re.MULTILINE)
_SPACES_RE = re.compile(r"[ \t]{2,}")
_BRACKETS_RE = re.compile(r"[<>\[\]|!]")
# Spaces left where something was removed ("see <img> ." -> "see ."), not French
# typography's spaces before ; : ! ?
_SPACE_BEFORE_PUNCT_RE = re.compile(r"[ \t]+([.,])")


def to_plain_text(text: str, cited: Sequence[str] = ()) -> str:
    """``text`` reduced to plain text by the rules of this module.

    ``cited`` are the quotes the sentence cites: a bare URL stays only if one of them
    shows it (rule 4).
    """
    shown = _reduce("\n".join(cited), None)
    return _reduce(text, shown)


def is_plain_text(text: str) -> bool:
    """True when ``text`` holds no markup a markdown or HTML renderer would act on, no
    dangerous URI scheme, no chat-template token and no control or format character."""
    if _MARKUP_LEFT_RE.search(text) or _UNSAFE_URI_RE.search(text):
        return False
    return not _INVISIBLE_RE.search(text)


def urls(text: str) -> list[str]:
    """Bare URLs of ``text`` (trailing punctuation excluded)."""
    return [m.group(0).rstrip(".,;:!?") for m in _URL_RE.finditer(text)]


def _reduce(text: str, shown: str | None) -> str:
    """Rules 1-6 until nothing changes; bare URLs are kept when ``shown`` holds them
    (all of them when ``shown`` is None: that is how the cited text's view is made).

    Layout clean-up runs inside the loop because it can join characters into markup
    ("< !--" -> "<!--"); whatever is still markup after the passes is neutralised, and
    as a last resort every bracket character goes (nothing can be rebuilt from that).
    """
    out = _strip_invisible(text)
    for _ in range(_MAX_PASSES):
        rewritten = _rewrite(out, shown)
        if rewritten == out:
            break
        # Only text that lost something is tidied: a sentence without markup keeps its
        # exact spacing (French "apparaissent :" stays as written).
        out = _tidy(rewritten)
    if not is_plain_text(out):
        out = _tidy(_neutralise(out))
    if not is_plain_text(out):
        out = _UNSAFE_URI_RE.sub(" ", _BRACKETS_RE.sub(" ", out))
        out = _SPACES_RE.sub(" ", out).strip()
    return out


def _tidy(text: str) -> str:
    out = _SPACES_RE.sub(" ", text)
    out = _SPACE_BEFORE_PUNCT_RE.sub(r"\1", out)
    return "\n".join(line.strip() for line in out.split("\n")).strip()


def _drop_elements(text: str) -> str:
    """``<script>...</script>`` (and the other content-dropping elements) removed with
    their content; an opening tag without its closing tag goes alone. Linear: closing
    tags are found once, and each opening tag looks up the next one by bisection."""
    closings: dict[str, list[tuple[int, int]]] = {}
    for m in _DROP_CLOSE_RE.finditer(text):
        closings.setdefault(m.group(1).lower(), []).append(m.span())
    parts, pos = [], 0
    for m in _DROP_OPEN_RE.finditer(text):
        if m.start() < pos:
            continue
        ends = closings.get(m.group(1).lower(), [])
        i = bisect.bisect_left(ends, (m.end(), -1))
        parts.append(text[pos:m.start()])
        parts.append(" ")
        pos = ends[i][1] if i < len(ends) else m.end()
    parts.append(text[pos:])
    return "".join(parts)


def _rewrite(text: str, shown: str | None) -> str:
    out = _HEADING_RE.sub("", _drop_elements(text))
    out = _COMMENT_RE.sub(" ", out)
    out = _CHAT_TOKEN_RE.sub(" ", out)
    out = _AUTOLINK_RE.sub(lambda m: f" {m.group(1)} ", out)
    out = _TAG_RE.sub(" ", out)
    out = _MD_DEFINITION_RE.sub("", out)
    out = _MD_IMAGE_RE.sub(" ", out)
    out = _MD_LINK_RE.sub(lambda m: m.group("text"), out)
    out = _UNSAFE_URI_RE.sub(" ", out)
    if shown is None:
        return out

    def keep_if_shown(m: re.Match[str]) -> str:
        url = m.group(0)
        bare = url.rstrip(".,;:!?")
        if bare and bare in shown:
            return url
        return " " + url[len(bare):]

    return _URL_RE.sub(keep_if_shown, out)


def _neutralise(text: str) -> str:
    """Last resort, linear: break whatever markup is left (pseudonym tokens survive)."""
    tokens: list[str] = []

    def hold(m: re.Match[str]) -> str:
        tokens.append(m.group(0))
        return f"\x00{len(tokens) - 1}\x00"

    out = _PSEUDONYM_RE.sub(hold, text)
    out = out.replace("<", " ").replace(">", " ")
    out = re.sub(r"!+(?=\[)", "", out).replace("](", "] (").replace("][", "] [")
    out = _MD_DEFINITION_RE.sub("", out)
    out = re.sub(r"^([ \t]{0,3}\[[^\[\]]+\]):", r"\1", out, flags=re.MULTILINE)
    out = _UNSAFE_URI_RE.sub(" ", out)
    return re.sub(r"\x00(\d+)\x00", lambda m: tokens[int(m.group(1))], out)


def _strip_invisible(text: str) -> str:
    return _INVISIBLE_RE.sub("", text)
