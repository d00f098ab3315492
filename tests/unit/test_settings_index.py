"""The embedded index the settings describe is the one the service builds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.api.container import build_index
from services.api.settings import Settings


@pytest.mark.parametrize(("env", "expected_ef", "expected_threshold"), [
    ({}, 1024, None),  # no graph: exact scans
    ({"DOCINTEL_EDGE_HNSW_EF": "4096", "DOCINTEL_EDGE_HNSW_THRESHOLD_KB": "250000"}, 4096, 250_000),
])
def test_edge_graph_settings_reach_the_index(tmp_path, monkeypatch, env, expected_ef, expected_threshold):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    index = build_index(Settings(data_dir=tmp_path))
    try:
        assert type(index).__name__ == "QdrantEdgeIndex"
        assert (index.hnsw_ef, index.indexing_threshold_kb) == (expected_ef, expected_threshold)
    finally:
        index.close()


def test_a_useless_graph_search_width_is_refused(tmp_path):
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path, edge_hnsw_ef=4)
