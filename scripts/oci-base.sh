#!/usr/bin/env bash
# Build a local OCI base image with Debian bookworm + Python 3.11 (+venv, pip), for machines that
# cannot pull images from a registry. Needs root and the Debian packages buildah and debootstrap.
#
#   scripts/oci-base.sh [IMAGE]        # default IMAGE: localhost/python-base:3.11-bookworm
#
# Then build a Dockerfile against it without a Docker engine:
#   buildah bud --isolation chroot --network host --build-arg BASE_IMAGE=localhost/python-base:3.11-bookworm -t yolocls:test .
# and run a command inside the built image:
#   c=$(buildah from yolocls:test); buildah run --isolation chroot --network host "$c" -- CMD...; buildah rm "$c"
# The image provides `python3` (3.11) with `python3 -m venv` and `python3 -m pip`; it has no `python` alias
# unless the Dockerfile makes one. Re-running is cheap: an existing image is kept.
set -euo pipefail
image=${1:-localhost/python-base:3.11-bookworm}
if ! command -v buildah >/dev/null || ! command -v debootstrap >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq buildah debootstrap >/dev/null
fi
if buildah images --format '{{.Name}}:{{.Tag}}' | grep -qx "$image"; then
  echo "oci-base: $image already present"; exit 0
fi
# The Debian mirror this machine's apt already uses (so nothing else needs to be reachable).
mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | head -1 | awk '{print $2}')
[ -n "$mirror" ] || mirror=$(grep -hs '^deb ' /etc/apt/sources.list | head -1 | awk '{print $2}')
[ -n "$mirror" ] || { echo "oci-base: no Debian mirror found in apt's sources"; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase \
  --include=python3,python3-venv,python3-pip,ca-certificates,libglib2.0-0,libgomp1 \
  bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 \
  || { tail -20 "$work/debootstrap.log"; exit 1; }
# This machine reaches package indexes through a TLS proxy whose CA only the host trusts: hand the
# host's CA bundle to the image so pip and apt inside builds work as they do on the host.
cp /etc/ssl/certs/ca-certificates.crt "$work/rootfs/etc/ssl/certs/ca-certificates.crt"
rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
c=$(buildah from scratch)
buildah add "$c" "$work/rootfs.tar" / >/dev/null
buildah config --env LANG=C.UTF-8 --env PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
  --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt --env REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt \
  --cmd /bin/bash "$c"
buildah commit --quiet "$c" "$image" >/dev/null
buildah rm "$c" >/dev/null
echo "oci-base: built $image"
