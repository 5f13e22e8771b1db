#!/usr/bin/env bash
# Makes the local base image (default at-gateway-base:bookworm) without any image registry:
# debootstrap a minimal Debian bookworm with python3 (3.11), python3-venv and ca-certificates
# from the Debian mirror this machine's apt already uses, then `docker import` it.
#
# Idempotent and cached: nothing happens when the image exists; the root filesystem tarball is
# kept in $AT_CACHE_DIR (default ~/.cache/at-gateway), so a wiped Docker engine only needs a
# `docker import` (seconds) instead of a new debootstrap (minutes).
#
# Environment: AT_BASE_IMAGE (image tag), AT_CACHE_DIR, AT_DEBIAN_MIRROR (overrides the mirror
# found in /etc/apt/sources.list*), FORCE=1 (rebuild the tarball and the image).
set -euo pipefail

IMAGE=${AT_BASE_IMAGE:-at-gateway-base:bookworm}
SUITE=bookworm
# Everything both images need. apt stays in the image so the postgres image can be layered on it.
PACKAGES=python3,python3-venv,ca-certificates
CACHE_DIR=${AT_CACHE_DIR:-$HOME/.cache/at-gateway}
# The tarball name changes whenever what goes into it changes, so a stale cache is never reused.
RECIPE_ID=$(printf '%s|%s|v3' "$SUITE" "$PACKAGES" | sha256sum | cut -c1-12)
TARBALL=$CACHE_DIR/rootfs-$SUITE-$RECIPE_ID.tar

log() { printf 'base-image: %s\n' "$*" >&2; }

if [[ ${FORCE:-0} != 1 ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  exit 0
fi

find_mirror() {
  if [[ -n ${AT_DEBIAN_MIRROR:-} ]]; then
    echo "$AT_DEBIAN_MIRROR"
    return
  fi
  local files=() uri
  shopt -s nullglob
  files=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources)
  shopt -u nullglob
  # First Debian archive (not the security archive) in deb822 `URIs:` or one-line `deb` form.
  uri=$( { cat "${files[@]}" 2>/dev/null || true; } \
    | sed -nE 's/^URIs:[[:space:]]+//p; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//p' \
    | tr ' ' '\n' | grep -E '^https?://.*/debian/?$' | head -n1 || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

make_tarball() {
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get install -y -qq debootstrap >/dev/null 2>&1 \
      || { apt-get update -qq >/dev/null && apt-get install -y -qq debootstrap >/dev/null; }
  fi
  local mirror root logfile
  mirror=$(find_mirror)
  mkdir -p "$CACHE_DIR/debs"
  root=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
  logfile=$CACHE_DIR/debootstrap.log
  # shellcheck disable=SC2064  # expand now: the trap must remove this very directory
  trap "rm -rf '$root'" EXIT
  log "debootstrap $SUITE from $mirror (log: $logfile)"
  if ! debootstrap --variant=minbase --include="$PACKAGES" --cache-dir="$CACHE_DIR/debs" \
      "$SUITE" "$root" "$mirror" >"$logfile" 2>&1; then
    tail -n 20 "$logfile" >&2
    log "debootstrap failed"
    exit 1
  fi
  # Trim what a container never reads; keep dpkg's and apt's state so images can layer on it.
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
    "$root"/usr/share/locale/* "$root"/var/log/* "$root"/tmp/* "$root"/root/.cache
  printf 'deb %s %s main\n' "$mirror" "$SUITE" >"$root/etc/apt/sources.list"
  : >"$root/etc/resolv.conf"
  tar --numeric-owner -C "$root" -cf "$TARBALL.part" .
  mv "$TARBALL.part" "$TARBALL"
  find "$CACHE_DIR" -maxdepth 1 -name 'rootfs-*.tar' ! -name "${TARBALL##*/}" -delete
  rm -rf "$root"
  trap - EXIT
}

if [[ ${FORCE:-0} == 1 || ! -s $TARBALL ]]; then
  make_tarball
fi

log "importing $TARBALL as $IMAGE"
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' \
  "$TARBALL" "$IMAGE" >/dev/null
