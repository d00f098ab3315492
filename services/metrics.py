"""Prometheus metrics. Labels carry route templates, statuses, stages and states only:
never collection names, document ids, filenames or text (no PII in labels)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("docintel_http_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram(
            "docintel_http_request_duration_seconds", "HTTP request latency", ["method", "route"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.stage_latency = Histogram(
            "docintel_stage_duration_seconds", "Pipeline stage latency", ["pipeline", "stage"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.pages_ingested = Counter("docintel_pages_ingested", "Pages indexed", registry=r)
        self.chunks_ingested = Counter("docintel_chunks_ingested", "Chunks indexed", registry=r)
        self.documents = Counter("docintel_documents", "Documents processed by outcome", ["outcome"], registry=r)
        self.job_transitions = Counter("docintel_job_transitions", "Job state changes", ["kind", "state"], registry=r)
        self.jobs_active = Gauge("docintel_jobs", "Jobs by state (from the registry)", ["state"], registry=r)
        self.abstentions = Counter("docintel_ask_abstentions", "Answers that abstained", registry=r)
        self.sentences_dropped = Counter(
            "docintel_verification_dropped_sentences", "Answer sentences dropped by verification", registry=r
        )
        self.asks = Counter("docintel_asks", "Questions answered", ["generator"], registry=r)
        self.extractions = Counter("docintel_extractions", "Extractions", ["generator"], registry=r)

    def observe_stages(self, pipeline: str, timings_ms: dict[str, float]) -> None:
        for stage, ms in timings_ms.items():
            self.stage_latency.labels(pipeline, stage).observe(ms / 1000)

    def render(self) -> bytes:
        return generate_latest(self.registry)
