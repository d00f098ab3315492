"""DOCINTEL_PARSE_MEMORY_MB has a floor the Office parsers need: below 2048 MB every
DOCX/XLSX failed inside the sandbox (measured: 768/1024 "needed more memory", 1280/1536
"corrupt" or a timeout), so the server refuses to start with it rather than mislabel uploads."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.api.settings import Settings


@pytest.mark.parametrize("memory_mb, accepted", [
    (256, False),
    (1024, False),
    (1536, False),
    (2047, False),
    (2048, True),
    (3072, True),  # the default
])
def test_parse_memory_floor(tmp_path, memory_mb, accepted):
    if accepted:
        assert Settings(data_dir=tmp_path, parse_memory_mb=memory_mb).parse_memory_mb == memory_mb
    else:
        with pytest.raises(ValidationError, match="parse_memory_mb"):
            Settings(data_dir=tmp_path, parse_memory_mb=memory_mb)


def test_default_passes_the_floor():
    assert Settings.model_fields["parse_memory_mb"].default >= 2048
