#!/usr/bin/env bash
# Builds the at-gateway images on a machine with a Docker engine but no image registry.
#
#   1. compose/base-image.sh makes the local base image (cached).
#   2. The host's python (3.11, like the image's) builds wheels of the project and of every
#      runtime dependency into compose/.wheels. Dependencies are resolved again only when
#      pyproject.toml changes; otherwise only the project's own wheel is rebuilt.
#   3. `docker build` installs those wheels with --no-index: no network inside the build.
#   4. The postgres image for the compose cluster is built from the same base (Debian's
#      postgresql package; its layer is cached by Docker after the first build).
#
# Environment: PYTHON (host interpreter, default .venv/bin/python), AT_IMAGE (default
# at-gateway:dev), AT_PG_IMAGE (default at-gateway-postgres:dev), AT_BASE_IMAGE (default
# at-gateway-base:bookworm; when set to anything else, base-image.sh is skipped).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DEFAULT_BASE=at-gateway-base:bookworm
BASE_IMAGE=${AT_BASE_IMAGE:-$DEFAULT_BASE}
IMAGE=${AT_IMAGE:-at-gateway:dev}
PG_IMAGE=${AT_PG_IMAGE:-at-gateway-postgres:dev}
WHEELS=$ROOT/compose/.wheels
LOGS=$ROOT/compose/.cache
if [[ -n ${PYTHON:-} ]]; then
  :
elif [[ -x $ROOT/.venv/bin/python ]]; then
  PYTHON=$ROOT/.venv/bin/python
else
  PYTHON=python3.11
fi

log() { printf 'build: %s\n' "$*" >&2; }
# Runs a noisy command with its output in a log file; shows the file's tail only on failure.
quiet() {
  local name=$1
  shift
  if ! "$@" >"$LOGS/$name.log" 2>&1; then
    tail -n 30 "$LOGS/$name.log" >&2
    log "$name failed (full log: $LOGS/$name.log)"
    exit 1
  fi
}

mkdir -p "$WHEELS" "$LOGS"

if [[ $("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])') != 3.11 ]]; then
  log "$PYTHON is not Python 3.11; the image's python is 3.11, so its wheels would not fit"
  exit 1
fi

if [[ $BASE_IMAGE == "$DEFAULT_BASE" ]]; then
  AT_BASE_IMAGE=$BASE_IMAGE "$ROOT/compose/base-image.sh"
fi

# The project is built from a copy so setuptools leaves no build/ or *.egg-info in the tree.
SRC=$(mktemp -d)
trap 'rm -rf "$SRC"' EXIT
cp pyproject.toml "$SRC/"
if [[ -f README.md ]]; then cp README.md "$SRC/"; else : >"$SRC/README.md"; fi
cp -r node providers store cluster "$SRC/"
find "$SRC" -name __pycache__ -prune -exec rm -rf {} +

# deps/ holds exactly one wheel per runtime dependency (the image installs them all, in a layer
# Docker caches); project/ holds the project's own wheel, rebuilt on every run.
DEPS=$WHEELS/deps
PROJECT=$WHEELS/project
STAMP=$WHEELS/.deps-stamp
WANT=$( (cat pyproject.toml; "$PYTHON" -c 'import sys, sysconfig; print(sys.version, sysconfig.get_platform())') \
  | sha256sum | cut -c1-16)
rm -rf "$PROJECT"
rm -f "$WHEELS"/*.whl
mkdir -p "$PROJECT"
# A fixed timestamp makes the project's wheel byte-identical while its sources are, so Docker's
# layer cache holds across runs.
export SOURCE_DATE_EPOCH=315532800
PIP=("$PYTHON" -m pip wheel -q --disable-pip-version-check --no-build-isolation)
if [[ -d $DEPS && -f $STAMP && $(cat "$STAMP") == "$WANT" ]]; then
  quiet wheels "${PIP[@]}" --no-deps -w "$PROJECT" "$SRC"
else
  log "resolving dependencies into compose/.wheels"
  rm -rf "$DEPS" "$STAMP"
  quiet wheels "${PIP[@]}" -w "$DEPS" "$SRC"
  mv "$DEPS"/at_gateway-*.whl "$PROJECT/"
  echo "$WANT" >"$STAMP"
fi

log "docker build $IMAGE (base $BASE_IMAGE)"
quiet docker-build docker build --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$IMAGE" -f Dockerfile .

# The replaced image of an earlier run is left untagged: drop those (only this image's, by label;
# the build stage's untagged images are Docker's layer cache and stay).
docker image prune -f --filter "label=org.opencontainers.image.title=at-gateway" >/dev/null

log "docker build $PG_IMAGE"
quiet docker-build-postgres docker build --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$PG_IMAGE" \
  compose/postgres
