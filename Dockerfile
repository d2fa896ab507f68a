# genmedia: one image for every role; the command chooses it (docs/operations.md):
#   genmedia-orchestrator --role api | --role worker, genmedia-progress [serve|migrate], genmedia-image,
#   genmedia-video, genmedia-gateway (HTTP API and web console, its static files packaged in the wheel),
#   genmedia (the CLI), temporal server start-dev (the dev overlay's Temporal).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# Build: every dependency is a pinned wheel (pyproject.toml), so no compiler is needed even here.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/genmedia
COPY pyproject.toml README.md ./
COPY genmedia ./genmedia
COPY services ./services
# A regular (not editable) install: the code lives in the venv, compiled to .pyc there (the root filesystem
# is read-only at run time).
RUN /opt/genmedia/bin/pip install --no-cache-dir --only-binary=:all: --no-binary=genmedia . \
    && /opt/genmedia/bin/python -m compileall -q /opt/genmedia/lib

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=
LABEL org.opencontainers.image.title="genmedia" \
      org.opencontainers.image.description="Durable prompt-to-image and prompt-to-video jobs: gRPC microservices driven by Temporal" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.documentation="docs/operations.md"
COPY --from=build /opt/genmedia /opt/genmedia
# The numeric user the manifests run as (runAsNonRoot needs a number to check); its only writable places
# are the volumes mounted at /tmp and /var/lib/genmedia.
RUN groupadd --system --gid 10001 genmedia \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/genmedia --no-create-home --shell /usr/sbin/nologin genmedia \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/genmedia
# USER and HOME: the temporal CLI (Go, no cgo) needs them to know who it runs as, whatever the uid.
ENV PATH=/opt/genmedia/bin:$PATH \
    USER=genmedia \
    HOME=/var/lib/genmedia \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GENMEDIA_VAR_DIR=/var/lib/genmedia \
    GENMEDIA_BIND_HOST=0.0.0.0 \
    GENMEDIA_LOG_FORMAT=json
WORKDIR /var/lib/genmedia
USER 10001:10001
EXPOSE 50051 50052 50053 50054 50055 8080 9101 9102 9103 9104 9105 9106
CMD ["genmedia", "--help"]
