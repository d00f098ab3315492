"""OCR with the tesseract command (Debian ``tesseract-ocr`` + ``-fra``/``-eng`` data), and
the pages of one PDF OCR'd in parallel helper processes."""

from __future__ import annotations

import io
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
from collections.abc import Sequence

from pipelines.errors import (
    CorruptDocument,
    DocintelError,
    EmptyDocument,
    EncryptedDocument,
    LimitExceeded,
    ParseError,
    UnsupportedMediaType,
)
from pipelines.types import Block

OCR_TIMEOUT_S = 120
MAX_IMAGE_PIXELS = 60_000_000


def tesseract_available() -> bool:
    return shutil.which("tesseract") is not None


def ocr_image_bytes(image: bytes, languages: str = "fra+eng") -> str:
    """Text of an image (PNG/JPEG/TIFF bytes). Empty when nothing is readable."""
    if not tesseract_available():
        raise UnsupportedMediaType("OCR is not available on this server (tesseract is not installed)")
    try:
        completed = subprocess.run(
            ["tesseract", "stdin", "stdout", "-l", languages, "--psm", "3"],
            input=image, capture_output=True, timeout=OCR_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired:
        raise LimitExceeded(f"OCR took longer than {OCR_TIMEOUT_S} s for one page") from None
    return completed.stdout.decode("utf-8", errors="replace").strip()


def image_to_png(data: bytes) -> bytes:
    """Any image PIL (with HEIF support) can open, as PNG; bounded in size."""
    from PIL import Image

    try:
        from pi_heif import register_heif_opener

        register_heif_opener()
    except ImportError:  # pragma: no cover - pi-heif is a dependency
        pass
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.mode not in ("RGB", "L"):
                img = img.convert("RGB")
            out = io.BytesIO()
            img.save(out, format="PNG")
            return out.getvalue()
    except Image.DecompressionBombError:
        raise LimitExceeded("the image is too large") from None
    except (OSError, ValueError, SyntaxError, EOFError):  # PIL's UnidentifiedImageError is an OSError
        raise CorruptDocument("the image is damaged or truncated") from None


# Parallel OCR of the pages of one PDF.
#
# Why processes: PyMuPDF holds the GIL for the whole of ``get_textpage_ocr`` (a pure-Python
# counter thread ran at 1.8% of its idle speed during one page's OCR) and MuPDF refuses a
# second OCR thread outright ("Attempt to use Leptonica from 2 threads at once!"), so
# threads cannot overlap MuPDF's OCR. The tesseract command in threads could, but it is a
# different engine: on the same pages its text and blocks differed from MuPDF's (boxes
# ~2.4 pt lower, other block splits, a rotated line lost), while the helpers below run
# the very function of the serial path, so the output is identical by construction.
# The price is a Python start-up per helper and parse, ~0.8 s measured with the
# ``pymupdf.layout`` import skipped (2.3 s with it), which is why a single page to OCR
# stays in-process.
#
# Sandbox guarantees: helpers are plain children of the parser worker, so they stay in its
# process group (a timeout's ``killpg`` ends them with it) and inherit its ``RLIMIT_AS``
# (each helper is capped like the worker: one parse may use up to (1 + workers) times the
# cap). Helpers exit when their stdin closes, so a worker that dies leaves none behind for
# longer than the page in progress. ``OMP_THREAD_LIMIT=1``: MuPDF's tesseract is built
# without OpenMP, but the tesseract command (the fallback) otherwise starts a thread per
# core in every helper (8-11 s instead of 1.8 s for one page on this loaded 2-core machine).

OcrResult = tuple[str, tuple[Block, ...]]
_PARSE_ERRORS = {cls.__name__: cls for cls in
                 (UnsupportedMediaType, EncryptedDocument, CorruptDocument, EmptyDocument, LimitExceeded)}
HELPER_EXIT_WAIT_S = 5.0


def ocr_pdf_pages_in_processes(data: bytes, numbers: Sequence[int], *, workers: int, languages: str, dpi: int,
                               password: str | None = None) -> list[OcrResult]:
    """``ocr_page_with_blocks`` of each page ``numbers[i]`` (1-based) of the PDF ``data``, in
    the order of ``numbers``, computed by ``workers`` helper processes that take the next
    page as they finish one (pages differ a lot in OCR time).

    Invariant: the result equals the serial ``[ocr_page_with_blocks(page n) for n in
    numbers]``. A failure raises the ``ParseError`` of the lowest failed page; pages not
    yet started are then skipped.
    """
    pending: queue.SimpleQueue[int] = queue.SimpleQueue()
    for number in numbers:
        pending.put(number)
    results: dict[int, OcrResult] = {}
    failures: dict[int, ParseError] = {}
    stop = threading.Event()
    header = json.dumps({"languages": languages, "dpi": dpi, "password": password, "size": len(data)}).encode()
    helpers = [_start_helper() for _ in range(max(1, min(workers, len(numbers))))]
    try:
        drivers = [threading.Thread(target=_drive_helper, name="docintel-ocr-helper",
                                    args=(helper, header, data, pending, results, failures, stop))
                   for helper in helpers]
        for driver in drivers:
            driver.start()
        for driver in drivers:
            driver.join()
    finally:
        for helper in helpers:
            _stop_helper(helper)
    if failures:
        raise failures[min(failures)]
    return [results[number] for number in numbers]


def _start_helper() -> subprocess.Popen:
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    # No new session or process group: the helper must die with the worker's group.
    # stderr is dropped: MuPDF's messages may quote the document.
    return subprocess.Popen(
        [sys.executable, "-c", "from pipelines.parsing.ocr import serve_ocr_helper; serve_ocr_helper()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
    )


def _drive_helper(helper: subprocess.Popen, header: bytes, data: bytes, pending: queue.SimpleQueue,
                  results: dict[int, OcrResult], failures: dict[int, ParseError], stop: threading.Event) -> None:
    """Feed one helper pages until none is left or a page failed anywhere. Runs in a thread
    of its own: it only waits on pipes (no PyMuPDF call, which is not thread-safe)."""
    number = 0  # no page yet: the helper failed on start-up or on the document
    try:
        helper.stdin.write(header + b"\n")
        helper.stdin.write(data)
        while not stop.is_set():
            try:
                number = pending.get_nowait()
            except queue.Empty:
                return
            helper.stdin.write(b"%d\n" % number)
            helper.stdin.flush()
            line = helper.stdout.readline()
            if not line:
                raise EOFError
            reply = json.loads(line)
            if "error" in reply:
                failures[number] = _PARSE_ERRORS.get(reply["error"], CorruptDocument)(reply["message"])
                stop.set()
                return
            blocks = tuple(Block(start, end, (x0, y0, x1, y1)) for start, end, x0, y0, x1, y1 in reply["blocks"])
            results[number] = (reply["text"], blocks)
    except (EOFError, OSError, ValueError):  # the helper died (ValueError: a torn reply)
        failures[number] = _helper_death(helper)
        stop.set()


def _helper_death(helper: subprocess.Popen) -> ParseError:
    try:
        code = helper.wait(HELPER_EXIT_WAIT_S)
    except subprocess.TimeoutExpired:
        code = None
    if code is not None and code < 0:
        return LimitExceeded("the OCR process was stopped by the system (memory or a crash) on this file")
    return CorruptDocument("the OCR process crashed on this file")


def _stop_helper(helper: subprocess.Popen) -> None:
    try:
        helper.stdin.close()  # the helper's signal to exit
    except OSError:
        pass
    try:
        helper.wait(HELPER_EXIT_WAIT_S)
    except subprocess.TimeoutExpired:
        helper.kill()
        helper.wait()
    helper.stdout.close()


def serve_ocr_helper() -> None:
    """Entry point of a helper process: a header line (JSON: languages, dpi, password,
    size), ``size`` bytes of PDF, then one page number per line; answers one JSON line
    per page, ``{"text", "blocks"}`` or ``{"error", "message"}``, until stdin closes."""
    # ``pymupdf.layout`` only serves ``Page.get_layout`` (unused here); its ONNX model
    # load doubled the helper's start-up.
    sys.modules.setdefault("pymupdf.layout", None)
    import pymupdf

    from pipelines.parsing.pdf import ocr_page_with_blocks

    pymupdf.TOOLS.mupdf_display_errors(False)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    header = json.loads(stdin.readline())
    doc = pymupdf.open(stream=stdin.read(header["size"]), filetype="pdf")
    if doc.needs_pass:
        doc.authenticate(header["password"] or "")
    for line in stdin:
        try:
            text, blocks = ocr_page_with_blocks(doc.load_page(int(line) - 1), header["languages"], header["dpi"])
            reply: dict = {"text": text, "blocks": [[b.start, b.end, *b.bbox] for b in blocks]}
        except DocintelError as exc:
            reply = {"error": type(exc).__name__, "message": str(exc)}
        except MemoryError:
            reply = {"error": "LimitExceeded", "message": "OCR needed more memory than allowed"}
        except Exception as exc:  # noqa: BLE001 - the message may quote the file: keep only the type
            reply = {"error": "CorruptDocument", "message": f"the file could not be parsed ({type(exc).__name__})"}
        stdout.write(json.dumps(reply).encode() + b"\n")
        stdout.flush()
