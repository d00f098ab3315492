"""Bytes in, pages out (``ParsedDocument``), for every supported format.

``DocumentParser`` parses in-process; ``SandboxedParser`` runs it in worker processes
with time, memory and page limits (what the service uses for untrusted uploads).
"""

from pipelines.parsing.document import DocumentParser
from pipelines.parsing.sandbox import SandboxedParser
from pipelines.parsing.sniff import decode_text, sniff_media_type

__all__ = ["DocumentParser", "SandboxedParser", "decode_text", "sniff_media_type"]
