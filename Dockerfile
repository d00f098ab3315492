# docintel API image (CPU). Models ship inside Python packages: nothing is downloaded at run time.
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 UNSTRUCTURED_DISABLE_NOTICE=1 TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="" \
    DOCINTEL_HOST=0.0.0.0 DOCINTEL_PORT=8000 DOCINTEL_DATA_DIR=/data
WORKDIR /app
COPY requirements/ requirements/
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        $(grep -v '^\s*#' requirements/apt.txt) && rm -rf /var/lib/apt/lists/*
# CPU torch first, then the rest under the pin. TORCH_INDEX_URL: your mirror of PyTorch's CPU
# wheel index (without it pip takes the default build, which pulls CUDA libraries).
ARG TORCH_INDEX_URL=""
RUN pip install --no-cache-dir torch==2.13.0 ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} \
 && pip install --no-cache-dir -c requirements/constraints.txt -r requirements/serve.txt \
 && pip install --no-cache-dir --no-deps ./requirements/local/en_core_web_sm
COPY pyproject.toml ./
COPY services/ services/
COPY pipelines/ pipelines/
COPY models/ models/
RUN pip install --no-cache-dir --no-deps .
RUN useradd --system --uid 10001 docintel && mkdir -p /data && chown docintel /data
USER docintel
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz').status==200 else 1)"
CMD ["docintel", "serve"]
