#!/usr/bin/env bash
# Smoke-run a built image against a throwaway mosquitto on loopback:
#
#   deploy/run-image.sh amd64|arm64|armv7
#
# Starts mosquitto on a free 127.0.0.1 port, runs localhost/edgerun:<arch> (host network,
# non-root, read-only root file system, all capabilities dropped, a fresh queue volume)
# with a synthetic driver, then requires within the deadline: /healthz and /readyz 200,
# /metrics with edgerun_queue_accepted_readings_total, a data batch and the "online"
# status on the broker, and after SIGTERM (podman stop) a clean exit 0.
# Exit status 0 only if all of that held. Everything started is stopped on exit.
set -euo pipefail

arch=${1:?usage: $0 amd64|arm64|armv7}
deadline=${EDGERUN_SMOKE_DEADLINE:-60}
[[ $arch == amd64 ]] || deadline=${EDGERUN_SMOKE_DEADLINE:-240}   # emulated start-up
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/deploy/podman-env.sh"
image=localhost/edgerun:$arch
platform=$(case $arch in amd64) echo linux/amd64;; arm64) echo linux/arm64;; armv7) echo linux/arm/v7;; esac)
work=$(mktemp -d)
name=edgerun-smoke-$$
mosq_pid=""
sub_pid=""
cleanup() {
  podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  [[ -n $sub_pid ]] && kill "$sub_pid" 2>/dev/null || true
  [[ -n $mosq_pid ]] && kill "$mosq_pid" 2>/dev/null || true
  podman volume rm -f "$name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
mqtt_port=$(free_port)
http_port=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\n' "$mqtt_port" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
mosq_pid=$!

cat > "$work/edgerun.toml" <<TOML
[gateway]
id = "smoke-$arch"
data_dir = "/var/lib/edgerun"

[uplink]
url = "mqtt://127.0.0.1:$mqtt_port"

[http]
listen = "127.0.0.1:$http_port"

[[drivers]]
type = "synthetic"
name = "synth"
TOML
chmod 0644 "$work/edgerun.toml"

python3 - "$mqtt_port" <<'PY'   # wait (bounded) until the broker accepts connections
import socket, sys, time
end = time.monotonic() + 10
while True:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        break
    except OSError:
        if time.monotonic() > end:
            sys.exit("mosquitto did not start")
        time.sleep(0.1)
PY
mosquitto_sub -p "$mqtt_port" -v -t "edgerun/smoke-$arch/#" > "$work/broker.txt" 2>&1 &
sub_pid=$!

entry=()
args=(run --config /etc/edgerun/edgerun.toml)

podman volume create "$name" >/dev/null
start=$(date +%s)
podman run -d --name "$name" --platform "$platform" --pull=never --network host \
  --read-only --cap-drop ALL --security-opt no-new-privileges \
  -e "EDGERUN_HEALTH_URL=http://127.0.0.1:$http_port/healthz" \
  -v "$name:/var/lib/edgerun" -v "$work/edgerun.toml:/etc/edgerun/edgerun.toml:ro" \
  "${entry[@]}" "$image" "${args[@]}" >/dev/null

fail() { echo "SMOKE FAIL: $*" >&2; podman logs "$name" 2>&1 | tail -40 >&2; exit 1; }
get() {  # get PATH [body]: the status code, and with "body" the body on the next lines
  python3 -c 'import sys,urllib.request as u
try:
    r=u.urlopen(sys.argv[1],timeout=3); code, body = r.status, r.read().decode()
except Exception as e:
    code, body = getattr(e,"code",0), ""
print(code)
if len(sys.argv) > 2: sys.stdout.write(body)' "http://127.0.0.1:$http_port$1" ${2:+body}; }

until [[ $(get /healthz) == 200 ]]; do
  (( $(date +%s) - start < deadline )) || fail "/healthz not 200 within ${deadline}s"
  [[ $(podman inspect -f '{{.State.Running}}' "$name") == true ]] || fail "container exited"
  sleep 0.5
done
echo "healthz 200 after $(( $(date +%s) - start )) s" >&2
until [[ $(get /readyz) == 200 ]]; do
  (( $(date +%s) - start < deadline )) || fail "/readyz not 200: $(get /readyz body)"
  sleep 0.5
done
until grep -q "edgerun/smoke-$arch/data" "$work/broker.txt"; do
  (( $(date +%s) - start < deadline )) || fail "no data batch on the broker"
  sleep 0.5
done
grep -q "edgerun/smoke-$arch/status" "$work/broker.txt" || fail "no status message on the broker"
podman healthcheck run "$name" >/dev/null || fail "the image's HEALTHCHECK failed"
metrics=$(get /metrics body)
grep -q '^edgerun_queue_accepted_readings_total' <<<"$metrics" || fail "/metrics incomplete"
user=$(podman exec "$name" id -u) || fail "exec failed"
[[ $user == 10001 ]] || fail "runs as uid $user, not 10001"
podman exec "$name" python3 -c 'import os, sys, importlib.util as u, edgerun.supervisor as m
assert sys.flags.optimize == 2, sys.flags
assert os.path.exists(u.cache_from_source(m.__file__)), "no byte code compiled for -OO"' \
  || fail "the memory settings (PYTHONOPTIMIZE=2 with compiled byte code) are not in effect"
rss_kb=$(podman exec "$name" sh -c 'grep VmRSS /proc/1/status' | awk '{print $2}')
note=""
[[ $arch == amd64 ]] || note=" (under qemu: includes the emulator)"
podman stop -t 30 "$name" >/dev/null
code=$(podman inspect -f '{{.State.ExitCode}}' "$name")
[[ $code == 0 ]] || fail "exit code $code after SIGTERM"
echo "SMOKE OK $image: healthz, readyz, metrics, data on the broker, HEALTHCHECK ok, uid $user, RSS ${rss_kb} kB${note}, clean stop" >&2
