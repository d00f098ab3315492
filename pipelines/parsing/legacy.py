"""Legacy binary Office files (.doc, .ppt) converted to OOXML with headless LibreOffice.

Why not unstructured's own converter: it runs ``soffice`` with the user's default profile
(written under ``$HOME``, shared by concurrent conversions, which then fail or wait on
each other), without a time limit, and waits while *any* soffice process is running.
Here each conversion gets a private temporary directory holding the input, the output
and its own LibreOffice profile (``-env:UserInstallation``), with ``HOME`` pointed there
too, and is killed with its helper processes past the time limit. It stays in the
caller's process group, so a sandbox worker killed mid-conversion takes soffice with it.
Invariant: nothing is written outside that temporary directory, which is removed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from pipelines.errors import CorruptDocument, LimitExceeded, UnsupportedMediaType

CONVERSION_TIMEOUT_S = 90.0
MAX_CONVERTED_BYTES = 200 * 1024 * 1024


def soffice_path() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def convert_with_libreoffice(data: bytes, *, source_suffix: str, target_suffix: str,
                             timeout_s: float = CONVERSION_TIMEOUT_S) -> bytes:
    """``data`` (a ``source_suffix`` file, e.g. "doc") converted to ``target_suffix`` ("docx").

    Raises ``UnsupportedMediaType`` when LibreOffice is not installed, ``LimitExceeded``
    past ``timeout_s`` and ``CorruptDocument`` when LibreOffice produces nothing.
    """
    soffice = soffice_path()
    if soffice is None:
        raise UnsupportedMediaType(
            f"legacy .{source_suffix} files need LibreOffice, which is not installed on this server"
        )
    with tempfile.TemporaryDirectory(prefix="docintel-soffice-") as tmp:
        work = Path(tmp)
        # A fixed input name: the uploader's filename never becomes a path.
        source = work / f"input.{source_suffix}"
        source.write_bytes(data)
        out_dir = work / "out"
        out_dir.mkdir()
        command = [
            soffice,
            f"-env:UserInstallation={(work / 'profile').as_uri()}",
            "--headless", "--norestore", "--nologo", "--nodefault", "--nolockcheck",
            "--convert-to", target_suffix, "--outdir", str(out_dir), str(source),
        ]
        env = {**os.environ, "HOME": str(work), "TMPDIR": str(work), "SAL_USE_VCLPLUGIN": "svp"}
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   stdin=subprocess.DEVNULL, cwd=work, env=env)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise LimitExceeded(f"converting the .{source_suffix} file took longer than {timeout_s:g} s") from None
        finally:
            _kill_tree(process)
        produced = out_dir / f"input.{target_suffix}"
        if not produced.is_file() or produced.stat().st_size == 0:
            raise CorruptDocument(f"the .{source_suffix} file could not be read (LibreOffice could not convert it)")
        if produced.stat().st_size > MAX_CONVERTED_BYTES:
            raise LimitExceeded(f"the .{source_suffix} file converts to more than {MAX_CONVERTED_BYTES >> 20} MB")
        return produced.read_bytes()


def _kill_tree(process: subprocess.Popen) -> None:
    """soffice forks helpers (oosplash -> soffice.bin): end them all, then reap."""
    import psutil

    try:
        helpers = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        helpers = []
    for helper in helpers:
        try:
            helper.kill()
        except psutil.Error:
            pass
    if process.poll() is None:
        process.kill()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not ignorable
        pass
    psutil.wait_procs(helpers, timeout=5)
