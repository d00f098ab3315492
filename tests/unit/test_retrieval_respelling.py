"""A typo in a question ("carageenan") must not read as a subject no document
mentions: when a long word of the question is in none of the hits, the retriever asks
the index once more for its spellings one edit away (the real embedded index; a
hashing embedder, which a typo defeats like any embedder)."""

from __future__ import annotations

import pytest

from models.sparse import LexicalSparseEncoder
from pipelines.indexing.edge_index import QdrantEdgeIndex
from pipelines.indexing.qdrant_index import chunk_payload, point_id
from pipelines.retrieval import HybridRetriever, _unseen_words
from pipelines.types import Chunk, IndexFilter, IndexPoint, ScoredChunk
from tests.fakes import HashingEmbedder

TEXTS = {
    "gel": "The carrageenan nasal spray was given twice a day to every patient.",
    # they share the question's other words, so a typo leaves them ahead on the dense side
    **{f"other{i}": f"What is the winter? The hospital admitted {i} patients with influenza." for i in range(6)},
}


def _hit(text: str) -> ScoredChunk:
    return ScoredChunk("c", 1.0, {"text": text})


@pytest.mark.parametrize(("question", "hits", "unseen"), [
    ("What is carageenan?", ["The carrageenan spray."], ["carageenan"]),
    ("What is carrageenan?", ["The carrageenan spray."], []),
    # another form of the word is the word: stems are compared
    ("Which patients were hospitalised?", ["Patients hospitalized in May.", "hospitalised"], []),
    ("Quels documents sont demandés ?", ["Le document demandé est la facture."], []),
    # short words and stop words are never respelled
    ("What is a spary?", ["The spray."], []),
])
def test_unseen_words(question, hits, unseen):
    assert _unseen_words(question, [_hit(t) for t in hits]) == unseen


class CountingIndex:
    """The real index, counting its searches."""

    def __init__(self, index):
        self.index, self.searches = index, 0

    def search(self, *args, **kwargs):
        self.searches += 1
        return self.index.search(*args, **kwargs)


@pytest.fixture(scope="module")
def retriever():
    embedder, sparse = HashingEmbedder(dimension=1024), LexicalSparseEncoder()
    index = QdrantEdgeIndex.temporary()
    index.create_physical("c", embedder.dimension)
    texts = list(TEXTS.values())
    points = [
        IndexPoint(point_id(doc, 0), dense, sv,
                   chunk_payload(Chunk(1, 0, len(text), text, 0), document_id=doc, filename=f"{doc}.txt", ready=True))
        for (doc, text), dense, sv in zip(TEXTS.items(), embedder.embed_documents(texts),
                                          sparse.encode_documents(texts))
    ]
    index.upsert("c", points)
    counting = CountingIndex(index)
    yield HybridRetriever(embedder, sparse, counting), counting
    index.close()


@pytest.mark.parametrize(("question", "searches"), [
    ("What is carrageenan?", 1),   # found as written: one query
    ("What is carageenan?", 2),    # a typo: its spellings are asked for too
])
def test_a_typo_finds_the_document_the_word_is_in(retriever, question, searches):
    retrieve, counting = retriever
    counting.searches = 0
    hits = retrieve.retrieve(question, index_name="c", flt=IndexFilter(), limit=3)
    assert "gel" in [h.payload["document_id"] for h in hits]
    assert counting.searches == searches


def test_without_the_respelled_query_the_typo_misses(retriever):
    """What the second query is for: the first one alone does not find the document."""
    retrieve, counting = retriever
    hits = counting.search("c", dense=retrieve.embedder.embed_query("What is carageenan?"),
                           sparse=retrieve.sparse_encoder.encode_query("What is carageenan?"),
                           flt=IndexFilter(), limit=3)
    assert "gel" not in [h.payload["document_id"] for h in hits]


def test_the_respelled_query_keeps_the_filter(retriever):
    """An ACL or document filter travels in the second query too."""
    retrieve, _ = retriever
    hits = retrieve.retrieve("What is carageenan given for?", index_name="c",
                             flt=IndexFilter(document_ids=("other1",)), limit=3)
    assert [h.payload["document_id"] for h in hits] == ["other1"]
