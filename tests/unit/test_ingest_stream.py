"""Streamed ingestion: pages are prepared, chunked and written batch by batch, and the
result is the one the whole-document stages would give.

Specification:
* chunk indices run 0..n-1 across the document, whatever ``batch_size`` is;
* ``page.text[chunk.start:chunk.end] == chunk.text`` for the stored page text;
* a preparer with ``stream`` is used instead of page-by-page calls, and closed on failure;
* progress is reported in pages, never goes backwards and ends at the page count;
* a failure mid-document leaves no point behind.
"""

from __future__ import annotations

import pytest

from pipelines.chunking import SentenceChunker
from pipelines.indexing.edge_index import QdrantEdgeIndex
from pipelines.ingest import IngestPipeline, IngestTarget, PreparedPage, identity_preparer
from pipelines.types import OffsetMap, Page, ParsedDocument
from tests.fakes import HashingEmbedder

SENTENCES = [
    "Le contrat couvre les dégâts des eaux dans le logement assuré.",
    "The insurer pays within thirty days of the claim.",
    "La franchise s'élève à 150 euros par sinistre déclaré.",
    "Either party may terminate the agreement with notice.",
]


def pages(count: int, sentences_per_page: int = 12) -> tuple[Page, ...]:
    return tuple(
        Page(n, " ".join(f"{SENTENCES[(n + i) % 4]} ({n}.{i})" for i in range(sentences_per_page)))
        for n in range(1, count + 1)
    )


@pytest.fixture
def index(tmp_path):
    index = QdrantEdgeIndex(tmp_path / "index")
    index.create_physical("phys", HashingEmbedder().dimension)
    yield index
    index.close()


def target(document_id="doc-1") -> IngestTarget:
    return IngestTarget(tenant="t", collection="c", index_name="phys", document_id=document_id, filename="f.pdf")


def sparse_encoder():
    from models.sparse import LexicalSparseEncoder

    return LexicalSparseEncoder()


@pytest.mark.parametrize("batch_size", [1, 3, 64, 10_000])
def test_stream_gives_the_whole_document_chunks_in_any_batch_size(index, batch_size):
    doc = ParsedDocument("application/pdf", pages(7))
    chunker = SentenceChunker(max_chars=300, overlap_chars=0, min_chars=50)
    pipeline = IngestPipeline(parser=None, index=index, sparse=sparse_encoder(), batch_size=batch_size)
    result = pipeline.index_pages(doc, target(), embedder=HashingEmbedder(), chunker=chunker)

    expected = chunker.chunk_document(doc.pages)
    stored = sorted(index.scroll("phys", document_id="doc-1"), key=lambda p: p.payload["chunk_index"])
    assert result.chunks == len(expected) == len(stored) > 7
    assert [p.payload["chunk_index"] for p in stored] == list(range(len(expected)))
    by_number = {p.number: p for p in result.pages}
    for point, chunk in zip(stored, expected, strict=True):
        assert (point.payload["page"], point.payload["start"], point.payload["end"]) == (chunk.page, chunk.start, chunk.end)
        assert by_number[chunk.page].text[chunk.start : chunk.end] == point.payload["text"]


class RecordingStreamPreparer:
    """A preparer with ``stream``: records its use, may fail at a given page."""

    def __init__(self, fail_at: int | None = None):
        self.fail_at = fail_at
        self.streamed = False
        self.closed = False
        self.called = 0

    def __call__(self, page, document_id):
        self.called += 1
        return identity_preparer(page, document_id)

    def stream(self, pages, document_id):
        self.streamed = True
        try:
            for page in pages:
                if page.number == self.fail_at:
                    raise RuntimeError("detector failed")
                yield PreparedPage(page, OffsetMap.identity(), {"PERSON": 1})
        finally:
            self.closed = True


def test_a_streaming_preparer_is_used_and_its_counts_are_summed(index):
    preparer = RecordingStreamPreparer()
    pipeline = IngestPipeline(parser=None, index=index, sparse=sparse_encoder(), batch_size=4)
    result = pipeline.index_pages(ParsedDocument("application/pdf", pages(5)), target(),
                                  embedder=HashingEmbedder(), chunker=SentenceChunker(max_chars=300, overlap_chars=60, min_chars=50),
                                  prepare=preparer)
    assert (preparer.streamed, preparer.called, preparer.closed) == (True, 0, True)
    assert result.pii == {"PERSON": 5}


def test_a_failure_mid_document_closes_the_stream_and_leaves_no_point(index):
    preparer = RecordingStreamPreparer(fail_at=4)
    pipeline = IngestPipeline(parser=None, index=index, sparse=sparse_encoder(), batch_size=2)
    with pytest.raises(RuntimeError, match="detector failed"):
        pipeline.index_pages(ParsedDocument("application/pdf", pages(6)), target(),
                             embedder=HashingEmbedder(), chunker=SentenceChunker(max_chars=300, overlap_chars=60, min_chars=50), prepare=preparer)
    assert preparer.closed
    assert index.count("phys", document_id="doc-1") == 0


def test_progress_counts_pages_and_never_goes_back(index):
    seen: list[tuple[str, int, int]] = []
    pipeline = IngestPipeline(parser=None, index=index, sparse=sparse_encoder(), batch_size=5)
    pipeline.index_pages(ParsedDocument("application/pdf", pages(9)), target(), embedder=HashingEmbedder(),
                         chunker=SentenceChunker(max_chars=300, overlap_chars=60, min_chars=50), progress=lambda *a: seen.append(a))
    done = [d for stage, d, total in seen if stage == "index" and total == 9]
    assert len(done) == len(seen) and done[0] == 0 and done[-1] == 9
    assert done == sorted(done)
