#!/usr/bin/env bash
# make bench (called by bench/run.sh): a warm-cache `docker-credential-regauth get`
# (a service-account key whose login token is cached) beside
# `docker-credential-ecr-login get` (Debian's amazon-ecr-credential-helper 0.6)
# in the same run: median wall time with hyperfine and peak RSS with
# /usr/bin/time -v. Figures only; never pass/fail.
#
# Fairness. Both read the request on stdin, so each runs as
# `sh -c 'exec HELPER get < FILE'`; the same wrapper around /bin/true is
# measured too and subtracted ("net"). ecr-login gets an ECR-shaped host
# (111122223333.dkr.ecr.us-east-1.amazonaws.com), an empty HOME and no AWS
# credentials, with the EC2 metadata lookup disabled: it starts, sets up its
# logging and the AWS SDK, finds no credentials and answers "credentials not
# found" without any network I/O. That is the local work it does before its
# own cache lookup, so its figure is a lower bound of its warm-cache time;
# regauth's figure is a full warm-cache answer (key file read and checked,
# cache entry read, JSON answer).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
HELPER=$PWD/bin/docker-credential-regauth
RUNS=${BENCH_HELPER_RUNS:-300}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./bin/regauthd init "$tmp/cfg" --service bench-registry --issuer bench \
    --realm "http://127.0.0.1:$port/token" >/dev/null
./bin/regauthd sa create -c "$tmp/cfg" bench-ci --policy readonly --key-out "$tmp/key.json" >/dev/null
./bin/regauthd serve -c "$tmp/cfg" --listen "127.0.0.1:$port" 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done

export REGAUTH_KEY_FILE=$tmp/key.json REGAUTH_SERVER=http://127.0.0.1:$port
export REGAUTH_CACHE_DIR=$tmp/cache REGAUTH_CONFIG=$tmp/none.json
printf 'registry.bench.example:5000' >"$tmp/in-regauth"
printf '111122223333.dkr.ecr.us-east-1.amazonaws.com' >"$tmp/in-ecr"
mkdir -p "$tmp/ecr-home"
# the one exchange; every later get is answered from the cache
"$HELPER" get <"$tmp/in-regauth" | $PY -c 'import json,sys; assert json.load(sys.stdin)["Username"] == "<token>"'
logins=$(grep -c '"path":"/v1/login"' "$tmp/log" || true)

ECR=$(command -v docker-credential-ecr-login || true)
echo "== warm-cache get: hyperfine -N --warmup 30 --runs $RUNS"
cmds=("sh -c 'exec /bin/true < $tmp/in-regauth'"
      "env sh -c 'exec $HELPER get < $tmp/in-regauth'")
[ -n "$ECR" ] && cmds+=("env -i HOME=$tmp/ecr-home PATH=/usr/bin:/bin AWS_EC2_METADATA_DISABLED=true sh -c 'exec $ECR get < $tmp/in-ecr'")
[ -n "$ECR" ] && cmds[0]="env -i HOME=$tmp/ecr-home PATH=/usr/bin:/bin sh -c 'exec /bin/true < $tmp/in-regauth'"
hyperfine -N -i --warmup 30 --runs "$RUNS" --export-json "$tmp/hf.json" "${cmds[@]}" >/dev/null 2>&1 ||
    hyperfine -N -i --warmup 30 --runs "$RUNS" --export-json "$tmp/hf.json" "${cmds[@]}"

rss() { # median peak RSS (KB) of 15 runs of: $1 = stdin file, rest = argv
    local in=$1; shift
    for _ in $(seq 15); do /usr/bin/time -v "$@" <"$in" 2>&1 >/dev/null |
        awk '/Maximum resident set size/ {print $NF}' || true; done | sort -n | sed -n 8p
}
rss_ours=$(rss "$tmp/in-regauth" "$HELPER" get)
rss_ecr=
[ -n "$ECR" ] && rss_ecr=$(rss "$tmp/in-ecr" env -i HOME="$tmp/ecr-home" PATH=/usr/bin:/bin \
    AWS_EC2_METADATA_DISABLED=true "$ECR" get)
ecr_out=$([ -n "$ECR" ] && env -i HOME="$tmp/ecr-home" PATH=/usr/bin:/bin AWS_EC2_METADATA_DISABLED=true \
    "$ECR" get <"$tmp/in-ecr" 2>/dev/null || true)

$PY - "$tmp/hf.json" "$rss_ours" "${rss_ecr:-}" "$logins" "$ecr_out" <<'PYEOF'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
rss_ours, rss_ecr, logins, ecr_out = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].strip()
med = [r["median"] * 1000 for r in res]
base = med[0]
print("== helper summary (median wall time; net = minus the same `env sh -c exec /bin/true` wrapper)")
print(f"wrapper alone:                     {base:6.2f} ms")
print(f"docker-credential-regauth get:     {med[1]:6.2f} ms (net {med[1]-base:5.2f} ms), "
      f"peak RSS {int(rss_ours)/1024:.1f} MiB; /v1/login calls in the run: {logins}")
if len(med) > 2:
    print(f"docker-credential-ecr-login get:   {med[2]:6.2f} ms (net {med[2]-base:5.2f} ms), "
          f"peak RSS {int(rss_ecr)/1024:.1f} MiB; it answered: {ecr_out!r}")
    print(f"ratio regauth/ecr-login: {med[1]/med[2]:.2f}x wall, {(med[1]-base)/(med[2]-base):.2f}x net "
          f"(target: at most 0.6x)")
else:
    print("docker-credential-ecr-login: not installed (apt-get install amazon-ecr-credential-helper)")
PYEOF
