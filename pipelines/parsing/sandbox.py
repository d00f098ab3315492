"""Parse untrusted files in worker processes with a time, memory and page limit.

A hostile or broken file can hang a parser, exhaust memory or crash native code
(PyMuPDF has had memory-safety bugs). Each parse therefore runs in a separate worker
process ("spawn": no state inherited from the server, whose threads may hold locks) with
``RLIMIT_AS`` set. The server only ever sees a ``ParsedDocument`` or a ``ParseError``:

* past ``timeout_s`` the worker is killed -> ``LimitExceeded``;
* out of memory or killed by a signal -> ``LimitExceeded`` / ``CorruptDocument``;
* any other failure inside -> ``CorruptDocument`` (never the raw exception text).

Workers are reused between parses (imports happen once) and replaced after a failure.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue
import resource
import signal
import threading
import time
from typing import Any

from pipelines.errors import CorruptDocument, DocintelError, LimitExceeded, ParseError
from pipelines.types import ParsedDocument

log = logging.getLogger("docintel.parsing")


def _worker_main(conn, parser_kwargs: dict[str, Any], memory_mb: int) -> None:
    # Own process group: killing the worker on a timeout also ends the helpers it started
    # (tesseract, LibreOffice), which would otherwise outlive it.
    os.setpgrp()
    soft = memory_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    # Soft limit only: helper programs (tesseract, soffice) may raise theirs back.
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    from pipelines.parsing.document import DocumentParser

    parser = DocumentParser(**parser_kwargs)
    threading.Thread(target=_preload_parsers, name="docintel-parser-preload", daemon=True).start()
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        data, filename, password = request
        try:
            result: tuple[str, Any] = ("ok", parser.parse(data, filename=filename, password=password))
        except DocintelError as exc:
            result = ("err", exc)
        except MemoryError:
            result = ("err", LimitExceeded("parsing needed more memory than allowed"))
        except RecursionError:
            result = ("err", CorruptDocument("the file's structure is nested too deeply"))
        except Exception as exc:  # noqa: BLE001 - the message may quote the file: keep only the type
            result = ("err", CorruptDocument(f"the file could not be parsed ({type(exc).__name__})"))
        try:
            conn.send(result)
        except Exception:  # noqa: BLE001 - e.g. an unpicklable result: still answer the parent
            conn.send(("err", CorruptDocument("the parse result could not be returned")))


def _preload_parsers() -> None:
    """Import the heavy format libraries in the background of a fresh worker.

    Why: the first Office/HTML/e-mail parse in a worker otherwise pays ~10-25 s of imports
    (unstructured and its dependencies) inside its time budget; a PDF parse started
    meanwhile is not delayed by more than the GIL share. Failures are left for the real
    parse to report.
    """
    try:
        import fitz  # noqa: F401
        from unstructured.partition import docx, email, html, pptx, xlsx  # noqa: F401

        from pipelines.parsing.office import _use_rule_based_sentences

        _use_rule_based_sentences()
    except Exception:  # preloading is an optimisation only
        log.debug("parser preload failed", exc_info=True)


class _Worker:
    def __init__(self, ctx, parser_kwargs: dict[str, Any], memory_mb: int):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, parser_kwargs, memory_mb),
                                   name="docintel-parser", daemon=True)
        self.process.start()
        child.close()

    def kill(self) -> None:
        if self.process.pid is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # the worker and its helpers
            except (ProcessLookupError, PermissionError):
                pass
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


class SandboxedParser:
    """``pipelines.ports.Parser`` running ``DocumentParser`` in worker processes."""

    def __init__(self, *, timeout_s: float = 300.0, memory_mb: int = 3072, max_pages: int = 5000,
                 ocr_max_pages: int = 200, ocr_languages: str = "fra+eng", workers: int = 1, prestart: bool = False,
                 ocr_workers: int = 1):
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        # ``ocr_workers`` > 1: OCR helper processes in the worker's process group (killed with
        # it on a timeout), each under the same memory cap as the worker.
        self._parser_kwargs = {"max_pages": max_pages, "ocr_max_pages": ocr_max_pages, "ocr_languages": ocr_languages,
                               "ocr_workers": ocr_workers}
        self._ctx = mp.get_context("spawn")
        self._idle: queue.Queue[_Worker | None] = queue.Queue()
        self._lock = threading.Lock()
        self._all: set[_Worker] = set()
        for _ in range(workers):
            # A slot; its process starts on first use, or now with ``prestart`` (a server
            # does that at start-up so the first upload does not wait for imports).
            self._idle.put(self._spawn() if prestart else None)

    def parse(self, data: bytes, *, filename: str = "", password: str | None = None) -> ParsedDocument:
        worker = self._idle.get()
        try:
            if worker is None or not worker.process.is_alive():
                worker = self._spawn()
            worker.conn.send((data, filename, password))
            deadline = time.monotonic() + self.timeout_s
            while not worker.conn.poll(0.2):
                if not worker.process.is_alive():
                    raise self._death(worker)
                if time.monotonic() > deadline:
                    self._discard(worker)
                    worker = None
                    raise LimitExceeded(f"parsing took longer than {self.timeout_s:g} s")
            try:
                status, payload = worker.conn.recv()
            except (EOFError, OSError):
                raise self._death(worker) from None
            if status == "ok":
                return payload
            if isinstance(payload, ParseError):
                raise payload
            raise CorruptDocument(str(payload))
        except ParseError:
            if worker is not None and not worker.process.is_alive():
                self._discard(worker)
                worker = None
            raise
        except (BrokenPipeError, EOFError, OSError):
            if worker is not None:
                self._discard(worker)
                worker = None
            raise CorruptDocument("the parser process failed on this file") from None
        finally:
            self._idle.put(worker)

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self._parser_kwargs, self.memory_mb)
        with self._lock:
            self._all.add(worker)
        return worker

    def _discard(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            self._all.discard(worker)

    def _death(self, worker: _Worker) -> ParseError:
        worker.process.join(1)
        code = worker.process.exitcode
        self._discard(worker)
        log.warning("parser worker died", extra={"exitcode": code})
        if code is not None and code < 0:
            return LimitExceeded("the parser was stopped by the system (memory or a crash) on this file")
        return CorruptDocument("the parser crashed on this file")

    def close(self) -> None:
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            try:
                worker.conn.send(None)
            except (OSError, ValueError):  # already dead or closed: killed below anyway
                pass
            worker.process.join(2)
            worker.kill()
