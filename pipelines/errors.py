"""Domain exceptions. No HTTP codes here: ``services/api/problems.py`` maps them."""

from __future__ import annotations


class DocintelError(Exception):
    """Base of every expected, user-facing failure. ``str(e)`` is safe to show."""

    code = "error"


class ParseError(DocintelError):
    """The file could not be turned into text."""

    code = "parse-error"


class UnsupportedMediaType(ParseError):
    code = "unsupported-media-type"


class EncryptedDocument(ParseError):
    """Encrypted and no (or a wrong) password was given."""

    code = "encrypted-document"


class CorruptDocument(ParseError):
    code = "corrupt-document"


class EmptyDocument(ParseError):
    """Parsed fine but holds no text (and OCR found none)."""

    code = "empty-document"


class LimitExceeded(ParseError):
    """Size, page, time or memory limit hit while parsing an untrusted file."""

    code = "limit-exceeded"


class NotFound(DocintelError):
    code = "not-found"


class Conflict(DocintelError):
    code = "conflict"


class InvalidRequest(DocintelError):
    """A request that is well-formed but cannot be honoured (e.g. a bad schema)."""

    code = "invalid-request"

    def __init__(self, message: str, errors: list[dict] | None = None):
        super().__init__(message)
        self.errors = errors or []


class NotImplementedYet(DocintelError):
    code = "not-implemented"


class JobCancelled(DocintelError):
    code = "job-cancelled"
