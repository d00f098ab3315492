"""The embedded index the settings describe is the one the service builds."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.api.container import build_index
from services.api.settings import Settings


@pytest.mark.parametrize(("env", "expected_ef"), [({}, 1024), ({"DOCINTEL_EDGE_HNSW_EF": "4096"}, 4096)])
def test_edge_graph_search_width_comes_from_the_settings(tmp_path, monkeypatch, env, expected_ef):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    index = build_index(Settings(data_dir=tmp_path))
    try:
        assert type(index).__name__ == "QdrantEdgeIndex"
        assert index.hnsw_ef == expected_ef
    finally:
        index.close()


def test_a_useless_graph_search_width_is_refused(tmp_path):
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path, edge_hnsw_ef=4)
