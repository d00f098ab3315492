"""Scan benchmark: OCR of an image-only PDF through the sandboxed parser, serial vs parallel.

    .venv/bin/python bench/ocr.py [--pages 12] [--workers 1 2] [--repeats 3]
                                  [--write bench/BENCHMARKS.md]

A generated scan (A4 pages of French and English prose rendered to 150 dpi images, no
text layer) is parsed by ``SandboxedParser`` (the service's parser: worker process, OCR at
200 dpi) with ``ocr_workers`` = each of ``--workers``; the worker is started before the
clock runs. The raw floor is MuPDF's tesseract (``get_textpage_ocr``, what the parser calls)
on one page in this process, times the pages, divided by the workers. The load average
is printed before and after: other work on the machine shifts every figure.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SENTENCES = [
    "Le contrat d'assurance habitation couvre les dommages causés par un dégât des eaux.",
    "L'assuré doit déclarer le sinistre dans un délai de cinq jours ouvrés.",
    "La franchise applicable s'élève à 150 euros par sinistre, sauf clause contraire.",
    "En cas de litige, le tribunal compétent est celui du domicile de l'assuré.",
    "The policyholder must notify the insurer of any claim within thirty days.",
    "Coverage includes accidental damage to the insured vehicle and third-party liability.",
    "Exclusions apply to losses caused by wear and tear or gradual deterioration.",
    "Either party may terminate the agreement with sixty days' written notice.",
]
OCR_DPI = 200  # PyMuPDFParser's default


def make_scan(pages: int, seed: int = 7) -> bytes:
    """``pages`` A4 pages, each an image of five paragraphs (no text layer)."""
    import pymupdf

    rng = random.Random(seed)
    scan = pymupdf.open()
    for n in range(pages):
        src = pymupdf.open()
        page = src.new_page()
        for i in range(5):
            paragraph = " ".join(rng.choice(SENTENCES) for _ in range(4)) + f" (ref. {n}-{rng.randint(100, 999)})"
            page.insert_textbox(pymupdf.Rect(50, 60 + 130 * i, 545, 180 + 130 * i), paragraph, fontsize=10)
        scan.new_page(width=page.rect.width, height=page.rect.height).insert_image(
            page.rect, stream=page.get_pixmap(dpi=150).tobytes("png"))
    return scan.tobytes()


def load_average() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and of its children it has waited for (the OCR helpers)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def raw_one_page_s(data: bytes, repeats: int) -> float:
    import pymupdf

    from pipelines.parsing.pdf import tessdata_dir

    doc = pymupdf.open(stream=data, filetype="pdf")
    times = []
    for _ in range(repeats):
        page = doc.load_page(0)
        start = time.perf_counter()
        page.get_textpage_ocr(language="fra+eng", dpi=OCR_DPI, full=True, tessdata=tessdata_dir())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(pages: int, workers: list[int], repeats: int) -> dict:
    from pipelines.parsing import SandboxedParser

    data = make_scan(pages)
    report: dict = {"pages": pages, "repeats": repeats, "load_before": load_average(), "runs": {}, "cpu": {}}
    outputs = {}
    for count in workers:
        sandbox = SandboxedParser(timeout_s=3600, workers=1, ocr_workers=count, ocr_max_pages=pages)
        try:
            # The worker's imports, outside the clock: an HTML file waits for the background
            # preload of the Office/HTML libraries, which would otherwise compete with the OCR.
            sandbox.parse(b"<html><body><p>warm-up</p></body></html>", filename="warm-up.html")
            worker = sandbox._idle.queue[0].process.pid  # the one worker, reused by every parse
            times, cpu = [], []
            for _ in range(repeats):
                start, start_cpu = time.perf_counter(), cpu_seconds(worker)
                outputs[count] = sandbox.parse(data)
                times.append(time.perf_counter() - start)
                cpu.append(cpu_seconds(worker) - start_cpu)
        finally:
            sandbox.close()
        report["runs"][count] = times
        report["cpu"][count] = cpu
        print(f"ocr_workers={count}: {', '.join(f'{t:.1f}' for t in times)} s, "
              f"CPU {', '.join(f'{c:.1f}' for c in cpu)} s", file=sys.stderr)
    report["identical"] = len({repr(o) for o in outputs.values()}) == 1
    report["ocr_pages"] = len(next(iter(outputs.values())).ocr_pages)
    report["raw_one_page_s"] = raw_one_page_s(data, repeats)
    report["load_after"] = load_average()
    return report


def markdown(report: dict, command: str) -> str:
    pages, one = report["pages"], report["raw_one_page_s"]
    serial = statistics.median(report["runs"][min(report["runs"])])
    machine = (f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
               f"load average (1/5/15 min) {report['load_before']} before, {report['load_after']} after "
               f"(other benchmarks were running); medians of {report['repeats']} parses.")
    data = (f"{pages} image-only A4 pages (150 dpi scans, OCR at {OCR_DPI} dpi, fra+eng), {report['ocr_pages']} "
            f"with text after OCR; output identical for every worker count: "
            f"**{'yes' if report['identical'] else 'NO'}**.")
    lines = [
        f"Command: `{command}`  ",
        machine,
        "",
        data,
        "",
        "| ocr_workers | parse (s) | pages/s | speed-up | raw floor (s) | parse / floor | CPU (s) | cores busy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for count, times in sorted(report["runs"].items()):
        seconds = statistics.median(times)
        floor = one * pages / count
        cpu = statistics.median(report["cpu"][count])
        lines.append(f"| {count} | {seconds:.1f} | {pages / seconds:.2f} | {serial / seconds:.2f}x | "
                     f"{floor:.1f} | {seconds / floor:.2f} | {cpu:.1f} | {cpu / seconds:.2f} |")
    floor_note = (f"Raw floor: MuPDF's tesseract (`get_textpage_ocr`) on one page in-process, {one:.2f} s, "
                  f"x {pages} pages / workers.")
    cpu_note = ("CPU: the parser worker's and its OCR helpers' CPU time during the parse; cores busy = CPU / "
                "parse time (below the worker count when other work takes the cores).")
    lines += ["", floor_note, cpu_note]
    return "\n".join(lines)


def write_section(path: Path, heading: str, body: str) -> None:
    """Replace (or append) the ``## heading`` section of a markdown file, up to the next
    ``## `` heading; the rest of the file is left as it is."""
    lines = path.read_text(encoding="utf-8").split("\n")
    try:
        start = lines.index(heading)
    except ValueError:
        path.write_text("\n".join(lines).rstrip("\n") + f"\n\n{heading}\n\n{body}\n", encoding="utf-8")
        return
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = lines[end:]
    new = lines[:start] + [heading, "", *body.split("\n"), ""] + ([""] if tail and tail[0] else []) + tail
    path.write_text("\n".join(new).rstrip("\n") + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=12)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", type=Path, help="replace the 'Parallel OCR' section of a BENCHMARKS.md")
    args = parser.parse_args()
    # As in the parser's helpers (only the tesseract command uses OpenMP: MuPDF's is built without).
    os.environ["OMP_THREAD_LIMIT"] = "1"
    report = run(args.pages, args.workers, args.repeats)
    text = markdown(report, "python bench/ocr.py " + " ".join(sys.argv[1:]))
    print(text)
    if args.write:
        write_section(args.write, "## Parallel OCR", text)


if __name__ == "__main__":
    main()
