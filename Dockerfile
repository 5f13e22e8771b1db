# at-gateway node image.
#
# Normal machines:   docker build -t at-gateway .
#   (the build stage installs the project and its dependencies from PyPI)
# No registry:       compose/build.sh
#   (imports a debootstrapped base image, builds every wheel on the host into compose/.wheels,
#    then this build installs them with --no-index: no network inside `docker build`)
#
# The base image must ship python3 >= 3.11 with the venv module; the build and final stages use
# the same base so the venv's interpreter path is valid in both.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
# Dependencies first, in their own layer: it stays cached while only the project changes.
# compose/.wheels/ is absent on a normal machine: the globs match nothing then, and listing
# pyproject.toml too keeps COPY from failing (it is ignored below).
COPY pyproject.toml compose/.wheels/dep[s] /wheels/deps/
RUN set -eu; \
    python3 -m venv /opt/venv; \
    if ls /wheels/deps/*.whl >/dev/null 2>&1; then \
        /opt/venv/bin/pip install -q --no-index --no-deps /wheels/deps/*.whl; \
        /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib >/dev/null; \
    fi
COPY pyproject.toml compose/.wheels/projec[t] /wheels/project/
COPY pyproject.toml README.m[d] /src/
COPY node /src/node
COPY providers /src/providers
COPY store /src/store
COPY cluster /src/cluster
RUN set -eu; \
    if ls /wheels/project/at_gateway-*.whl >/dev/null 2>&1; then \
        /opt/venv/bin/pip install -q --no-index --no-deps /wheels/project/at_gateway-*.whl; \
        /opt/venv/bin/pip check -q; \
    else \
        touch /src/README.md; \
        /opt/venv/bin/pip install -q /src; \
    fi; \
    /opt/venv/bin/pip uninstall -q -y pip setuptools wheel >/dev/null 2>&1 || true; \
    /opt/venv/bin/python -m compileall -q -j 0 /opt/venv/lib >/dev/null; \
    /opt/venv/bin/atgw --help >/dev/null

FROM ${BASE_IMAGE}
ARG UID=10001
# A fixed uid/gid so Kubernetes runAsNonRoot and volume ownership are predictable.
RUN set -eu; \
    groupadd --system --gid "${UID}" at; \
    useradd --system --uid "${UID}" --gid at --home-dir /var/lib/at --no-create-home \
        --shell /usr/sbin/nologin at; \
    install -d -o at -g at -m 0750 /var/lib/at /etc/at
# Metadata first: each instruction is a layer commit, and these never change.
LABEL org.opencontainers.image.title="at-gateway" \
      org.opencontainers.image.description="A clustered, peer-to-peer LLM gateway"
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /var/lib/at
# 8080 HTTP API; 5000 cluster bus (ZeroMQ); 5001 Raft (pysyncobj).
EXPOSE 8080 5000 5001
STOPSIGNAL SIGTERM
# Liveness only: /health answers while the process serves HTTP. No curl in the image.
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s%s/health' % (os.environ.get('AT_SERVER_PORT', '8080'), os.environ.get('AT_SERVER_BASE_PATH', '')), timeout=3)"]
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
# Exec form: atgw is PID 1 and receives SIGTERM itself (it drains in-flight requests, then exits).
ENTRYPOINT ["atgw", "serve"]
