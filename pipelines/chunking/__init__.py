"""Chunking: pages -> passages with exact offsets (see ``sentence_chunker``)."""

from pipelines.chunking.sentence_chunker import SentenceChunker, chunker_for
from pipelines.chunking.sentences import split_long_span, split_sentences

__all__ = ["SentenceChunker", "chunker_for", "split_sentences", "split_long_span"]
