"""OCR with the tesseract command (Debian ``tesseract-ocr`` + ``-fra``/``-eng`` data)."""

from __future__ import annotations

import io
import shutil
import subprocess

from pipelines.errors import CorruptDocument, LimitExceeded, UnsupportedMediaType

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
