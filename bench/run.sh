#!/usr/bin/env bash
# make bench: /token throughput with wrk (Basic with a login token,
# keep-alive) beside this run's `openssl speed ecdsap256` sign rate, plus
# the same with a password (the slow-hash path) for contrast. Then the
# policy engine alone (build/bench/policy): registry decisions at 100,
# 10,000 and 100,000 statements with the indexes on and off, the load time,
# and @cloud-copilot/iam-simulate (Node) on the same documents.
# Last, bench/helper.sh: a warm-cache credential-helper `get`.
# Figures only; never pass/fail.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${BENCH_SECONDS:-10}
CONNS=${BENCH_CONNECTIONS:-32}
PY=/usr/bin/python3
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
./bin/regauthd init "$tmp/cfg" --service bench-registry --issuer bench \
    --realm "http://127.0.0.1:$port/token" >/dev/null
pw=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
printf '%s\n' "$pw" | ./bin/regauthd user add -c "$tmp/cfg" bench --password-stdin --group developers
./bin/regauthd serve -c "$tmp/cfg" --listen "127.0.0.1:$port" 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.05; done

login=$(curl -sf -u "bench:$pw" "http://127.0.0.1:$port/token?service=bench-registry&offline_token=true&client_id=bench" |
    $PY -c 'import json,sys; print(json.load(sys.stdin)["refresh_token"])')
basic_token=$(printf 'x:%s' "$login" | base64 -w0)
basic_pw=$(printf 'bench:%s' "$pw" | base64 -w0)
url="http://127.0.0.1:$port/token?service=bench-registry&scope=repository:team-a/app:pull,push&account=bench"

echo "== openssl speed ecdsap256 (1 core, ${DUR}s)"
openssl speed -seconds "$DUR" ecdsap256 2>/dev/null | awk '/256 bits ecdsa/ {print "sign/s " $(NF-1) "  verify/s " $NF; print $(NF-1) > "'"$tmp/ossl"'"}'
echo "== /token, Basic with a login token, keep-alive (wrk -t2 -c$CONNS -d${DUR}s)"
wrk -t2 -c"$CONNS" -d"${DUR}s" --latency -H "Authorization: Basic $basic_token" "$url" | tee "$tmp/wrk1"
echo "== /token, Basic with a password (yescrypt per request) (wrk -t2 -c4 -d${DUR}s)"
wrk -t2 -c4 -d"${DUR}s" --latency -H "Authorization: Basic $basic_pw" "$url" | tee "$tmp/wrk2"
echo "== /healthz, static reply ceiling (wrk -t2 -c$CONNS -d${DUR}s)"
wrk -t2 -c"$CONNS" -d"${DUR}s" "http://127.0.0.1:$port/healthz" | tee "$tmp/wrk3"

rps() { awk '/Requests\/sec/ {print $2}' "$1"; }
pct() { awk -v p="$2" '$1 == p {print $2}' "$1"; }
non2xx=$(awk '/Non-2xx/ {print $NF}' "$tmp/wrk1")
$PY - "$(rps "$tmp/wrk1")" "$(cat "$tmp/ossl")" "$(rps "$tmp/wrk2")" "$(rps "$tmp/wrk3")" "${non2xx:-0}" \
    "$(pct "$tmp/wrk1" 50%)" "$(pct "$tmp/wrk1" 99%)" <<'PYEOF'
import sys
tok, ossl, pw, static, bad = (float(x) for x in sys.argv[1:6])
p50, p99 = sys.argv[6:8]
import os; CONNS = os.environ.get('BENCH_CONNECTIONS', '32')
print("== summary")
print(f"/token (login token): {tok:,.0f} tokens/s on 2 cores; openssl ecdsap256 sign: {ossl:,.0f}/s on 1 core "
      f"(ratio {tok/ossl:.2f}); latency p50 {p50}, p99 {p99} at {CONNS} connections")
print(f"/token (password):    {pw:,.0f} tokens/s ({tok/pw:.0f}x slower: the slow hash is the point)")
print(f"/healthz ceiling:     {static:,.0f} req/s; /token reaches {tok/static:.0%} of it")
if bad:
    print(f"WARNING: {bad:.0f} non-2xx answers during the login-token run")
PYEOF

# The policy engine: build/bench/policy (bench/policy.c) and, on the same
# documents, the Node simulator installed by `make bench` into build/.
echo "== policy engine: registry decisions at 100, 10,000 and 100,000 statements"
./build/bench/policy -s "${BENCH_POLICY_OFF_SECONDS:-5}" -n "$tmp/node-input.json" | tee "$tmp/policy"
echo "== @cloud-copilot/iam-simulate on the same documents (one IAM request each)"
: >"$tmp/node"
if [ -f build/bench/node/.installed ] && command -v node >/dev/null; then
    cp bench/iam-simulate.mjs build/bench/node/
    node build/bench/node/iam-simulate.mjs "$tmp/node-input.json" "${BENCH_NODE_RUNS:-300}" | tee "$tmp/node" ||
        echo "iam-simulate: the run failed; no Node baseline"
else
    echo "iam-simulate: not available (npm could not install @cloud-copilot/iam-simulate, or no node); no Node baseline in this run"
fi
$PY - "$tmp/policy" "$tmp/node" <<'PYEOF'
import re, sys
policy, node = (open(p).read() for p in sys.argv[1:3])
print("== policy summary (times in us)")
rows = re.findall(r"^(\d+)\s+\d+\s+\d+\s+(on|off)\s+(\d+)\s+([\d.]+)\s+([\d.]+)", policy, re.M)
sizes = {}
for stmts, idx, runs, med, p99 in rows:
    sizes.setdefault(stmts, {})[idx] = (int(runs), float(med), float(p99))
for stmts, v in sizes.items():
    on, off = v.get("on"), v.get("off")
    if on and off:
        print(f"{int(stmts):>7,} statements: median {on[1]:.2f}, p99 {on[2]:.2f} with the index; "
              f"median {off[1]:.2f}, p99 {off[2]:.2f} scanning ({off[1]/on[1]:.0f}x)")
for m in re.finditer(r"^load (\d+) statements.*config_load ([\d.]+) ms", policy, re.M):
    print(f"load of {int(m.group(1)):,} statements: {float(m.group(2)):.0f} ms")
ours = {m.group(1): float(m.group(2)) for m in
        re.finditer(r"^same-as-node (\S+) .*median ([\d.]+) us", policy, re.M)}
theirs = {m.group(1): float(m.group(2)) for m in
          re.finditer(r"^iam-simulate (\S+) .*median ([\d.]+) us", node, re.M)}
for label, us in ours.items():
    if label in theirs:
        print(f"{label}: regauth {us:.2f} us, iam-simulate {theirs[label]:,.0f} us per request "
              f"({theirs[label]/us:,.0f}x)")
    else:
        print(f"{label}: regauth {us:.2f} us; iam-simulate not measured in this run")
PYEOF

# The credential helper: a warm-cache get beside docker-credential-ecr-login.
bash bench/helper.sh
