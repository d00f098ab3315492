"""The long schemathesis run: tests/reliability/test_fuzz_api.py with many more examples.

    .venv/bin/python bench/fuzz_long.py [--examples 150] [--only SUBSTRING] [--checks server|conformance]

Same target as the reduced test: the app's own OpenAPI, every operation, called in
process (ASGI) with a valid admin key, on a temporary data dir seeded with one collection
and one document, fake embedder and text parser (``tests.conftest.build_test_app``); unlike
the reduced test, every other case addresses that collection, document and job, so that
operations with path parameters get past their 404. The
per-key rate limit is off for the run: a 429 would stop the operation under test from
being exercised (the limiter has its own tests in tests/api/test_limits.py).

Checks (tests/reliability/fuzzing.py, shared with the reduced test): ``conformance`` (the
default, and what the reduced test asserts) is no response >= 500 plus status code, content
type, response headers and response body conformance to the OpenAPI document; ``server``
is the first alone. Prints, per operation, the cases generated and the
failures by check; exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")


CALL_TIMEOUT_S = 60


def fuzz_operation(operation, *, examples: int, headers: dict, checks: list, seed: int, known: dict) -> dict:
    """Run ``examples`` generated cases of one operation; every failure is recorded (not
    raised), so that one bad answer does not end the operation's run. Every other case
    has its path parameters replaced by ``known`` ones (existing resources)."""
    import requests
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hypothesis_seed
    from schemathesis.core.failures import Failure, FailureGroup

    stats = {"cases": 0, "failures": Counter(), "statuses": Counter(), "samples": []}

    def record(failure: Failure, status: int | None) -> None:
        stats["failures"][failure.title] += 1
        if len(stats["samples"]) < 3:
            stats["samples"].append(f"{failure.title} (HTTP {status}): {str(failure.message)[:160]}")

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(case=operation.as_strategy())
    def run(case):
        stats["cases"] += 1
        if stats["cases"] % 2 == 0 and case.path_parameters:
            for name in case.path_parameters:
                if name in known:
                    case.path_parameters[name] = known[name]
        try:
            response = case.call(headers=headers, timeout=CALL_TIMEOUT_S)
        except requests.RequestException as exc:  # no answer in time counts as a failure, not a crash
            stats["failures"]["No response"] += 1
            stats["statuses"]["none"] += 1
            if len(stats["samples"]) < 3:
                stats["samples"].append(f"No response: {type(exc).__name__}")
            return
        stats["statuses"][response.status_code] += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                record(failure, response.status_code)
        except Failure as failure:
            record(failure, response.status_code)

    run()
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=150, help="generated cases per operation")
    parser.add_argument("--only", help="operations whose label contains this")
    parser.add_argument("--checks", choices=("server", "conformance"), default="conformance")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import schemathesis

    from tests.reliability.fuzzing import CONFORMANCE_CHECKS, SERVER_CHECKS, build_app, ensure_seed

    checks = list(CONFORMANCE_CHECKS if args.checks == "conformance" else SERVER_CHECKS)
    started = time.perf_counter()
    # No per-key rate limit: a 429 would stop the operation under test from being exercised.
    app, client, headers = build_app(Path(tempfile.mkdtemp(prefix="docintel-fuzz-long-")) / "data",
                                     rate_limit_per_minute=0)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    totals = {"operations": 0, "cases": 0, "failures": Counter(), "5xx": 0}
    try:
        for result in schema.get_all_operations():
            operation = result.ok()
            if args.only and args.only not in operation.label:
                continue
            t = time.perf_counter()
            known = ensure_seed(client, headers)
            stats = fuzz_operation(operation, examples=args.examples, headers=headers, checks=checks,
                                   seed=args.seed, known=known)
            server_errors = sum(n for status, n in stats["statuses"].items() if status != "none" and status >= 500)
            totals["operations"] += 1
            totals["cases"] += stats["cases"]
            totals["failures"].update(stats["failures"])
            totals["5xx"] += server_errors
            statuses = " ".join(f"{s}:{n}" for s, n in sorted(stats["statuses"].items(), key=str))
            failures = ", ".join(f"{k} x{n}" for k, n in stats["failures"].items()) or "none"
            print(f"{operation.label:<60} cases {stats['cases']:>4}  failures: {failures}  "
                  f"[{statuses}] {time.perf_counter() - t:.0f}s", flush=True)
            for sample in stats["samples"]:
                print(f"    {sample}", flush=True)
    finally:
        client.__exit__(None, None, None)
    failed = sum(totals["failures"].values())
    print()
    print(f"operations {totals['operations']}, cases {totals['cases']}, responses >= 500: {totals['5xx']}, "
          f"failures {failed}" + (f" ({dict(totals['failures'])})" if failed else "")
          + f"; checks: {', '.join(c.__name__ for c in checks)}; {args.examples} examples per operation; "
          f"{time.perf_counter() - started:.0f} s")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
