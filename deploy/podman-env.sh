# Sourced by the image scripts: podman settings this kind of host needs (cgroups v1
# hybrid: runc, not crun; no CAP_SYS_RESOURCE: lower default ulimits).
cache=${EDGERUN_IMAGE_CACHE:-/var/tmp/edgerun-image}
mkdir -p "$cache"
if [[ -z ${CONTAINERS_CONF:-} ]]; then
  printf '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n[engine]\nruntime = "runc"\n' \
    > "$cache/containers.conf"
  export CONTAINERS_CONF=$cache/containers.conf
fi
