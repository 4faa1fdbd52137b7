#!/usr/bin/env bash
# Build the edgerun container image for one architecture with podman, offline.
#
#   deploy/build-image.sh amd64|arm64|armv7
#
# No registry is needed: the Debian base is made with debootstrap (cached under
# $EDGERUN_IMAGE_CACHE, default /var/tmp/edgerun-image) and imported as
# localhost/edgerun-base:<arch>; the Dockerfile's BASE build argument points at it.
# ARM builds run under qemu-user-static (binfmt_misc is mounted and enabled here).
# Needs root and: debootstrap podman buildah runc fuse-overlayfs uidmap
# containernetworking-plugins (+ qemu-user-static binfmt-support for ARM).
# Prints the image name on the last line. Environment:
#   EDGERUN_IMAGE_CACHE  cache folder (rootfs tarballs, containers.conf)
#   EDGERUN_MIRROR       Debian mirror (default: the host's apt source)
#   EDGERUN_PIP_CA       CA bundle for pip inside the build (default: the host's bundle)
set -euo pipefail

arch=${1:?usage: $0 amd64|arm64|armv7}
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${EDGERUN_IMAGE_CACHE:-/var/tmp/edgerun-image}
mkdir -p "$cache"
source "$here/deploy/podman-env.sh"

case $arch in
  amd64) deb_arch=amd64; platform=linux/amd64; dockerfile=Dockerfile.amd64; import=(--arch amd64) ;;
  arm64) deb_arch=arm64; platform=linux/arm64; dockerfile=Dockerfile.arm; import=(--arch arm64) ;;
  armv7) deb_arch=armhf; platform=linux/arm/v7; dockerfile=Dockerfile.arm
         import=(--arch arm --variant v7) ;;
  *) echo "unknown architecture $arch (amd64, arm64, armv7)" >&2; exit 2 ;;
esac

if [[ $arch != amd64 ]]; then
  [[ -e /proc/sys/fs/binfmt_misc/register ]] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  update-binfmts --enable qemu-arm >/dev/null 2>&1 || true
  update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
  [[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] || { echo "qemu-user-static binfmt not registered" >&2; exit 1; }
fi

base=localhost/edgerun-base:$arch
if ! podman image exists "$base"; then
  tarball=$cache/rootfs-$deb_arch.tar
  if [[ ! -s $tarball ]]; then
    mirror=${EDGERUN_MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
    mirror=${mirror:-http://deb.debian.org/debian}
    rootfs=$cache/rootfs-$deb_arch
    rm -rf "$rootfs"
    echo "debootstrap $deb_arch from $mirror (about 1 min native, 2-3 min emulated)" >&2
    debootstrap --arch="$deb_arch" --variant=minbase bookworm "$rootfs" "$mirror" >&2
    # the slim image's apt source, so apt inside the build finds packages
    printf 'deb %s bookworm main\n' "$mirror" > "$rootfs/etc/apt/sources.list"
    tar -C "$rootfs" -cf "$tarball" .
    rm -rf "$rootfs"
  fi
  podman import "${import[@]}" --change 'CMD ["/bin/bash"]' "$tarball" "$base" >&2
fi

secret=()
ca=${EDGERUN_PIP_CA:-/etc/ssl/certs/ca-certificates.crt}
[[ -s $ca ]] && secret=(--secret "id=pipca,src=$ca")
image=localhost/edgerun:$arch
start=$(date +%s)
podman build --format docker --pull=never --platform "$platform" --build-arg "BASE=$base" "${secret[@]}" \
  -f "$here/$dockerfile" -t "$image" "$here" >&2
echo "built $image in $(( $(date +%s) - start )) s" >&2
echo "$image"
