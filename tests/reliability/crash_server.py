"""A real docintel server process for crash tests: on-disk Qdrant and SQLite in the
given data dir; a slowed fake embedder so that a kill lands in the middle of ingestion.

    python -m tests.reliability.crash_server DATA_DIR PORT
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import uvicorn

from tests.conftest import KEYS  # noqa: F401  (same keys as the API tests)
from tests.fakes import HashingEmbedder, PatternDetector, TextParser


class SlowEmbedder(HashingEmbedder):
    def embed_documents(self, texts):
        time.sleep(0.05 * len(texts))
        return super().embed_documents(texts)


def main(data_dir: str, port: int) -> None:
    import json

    from services.api.app import create_app
    from services.api.settings import Settings

    embedder = SlowEmbedder()
    settings = Settings(
        data_dir=Path(data_dir), api_keys=json.dumps(list(KEYS.values())), default_embedder=embedder.name,
        embedders=[embedder.name], preload_models=False,
    )
    app = create_app(settings, overrides={"embedders": {embedder.name: embedder}, "parser": TextParser(),
                                          "pii_detector": PatternDetector(), "extraction_ner": None})
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
