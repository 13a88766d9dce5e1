#!/usr/bin/env bash
# make bench: /token throughput with wrk (Basic with a login token,
# keep-alive) beside this run's `openssl speed ecdsap256` sign rate, plus
# the same with a password (served from the verified-password cache), and
# the OIDC token exchange of /v1/login beside openssl's RSA verify rate. Then the
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
echo "== /token, Basic with a password (verified-password cache: one yescrypt per minute) (wrk -t2 -c4 -d${DUR}s)"
wrk -t2 -c4 -d"${DUR}s" --latency -H "Authorization: Basic $basic_pw" "$url" | tee "$tmp/wrk2"
# The OIDC token exchange (POST /v1/login): RS256 verification of a
# GitHub-shaped token against a JWKS file, the role's trust policy, and an
# ES256 login token; beside openssl's RSA-2048 verify rate.
iss="https://token.actions.githubusercontent.com"
oidc_tok=$($PY bench/oidc_token.py "$iss" bench-aud "$tmp/jwks.json")
./bin/regauthd oidc add -c "$tmp/cfg" "$iss" --audience bench-aud --jwks-file "$tmp/jwks.json" >/dev/null
cat >"$tmp/trust.json" <<JSON
{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"$iss"},
 "Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"oidc:repository":"acme/app"},
 "StringLike":{"token.actions.githubusercontent.com:sub":"repo:acme/app:ref:refs/heads/*"}}}]}
JSON
./bin/regauthd role add -c "$tmp/cfg" bench-ci --trust "$tmp/trust.json" --policy developer >/dev/null
kill -HUP "$pid"
for _ in $(seq 100); do
    curl -sf -d "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token_type=urn:ietf:params:oauth:token-type:jwt&role=bench-ci&subject_token=$oidc_tok" \
        "http://127.0.0.1:$port/v1/login" >/dev/null && break
    sleep 0.05
done
cat >"$tmp/exchange.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token_type=urn:ietf:params:oauth:token-type:jwt&role=bench-ci&subject_token=$oidc_tok"
LUA
echo "== openssl speed rsa2048 verify (1 core, ${DUR}s)"
openssl speed -seconds "$DUR" rsa2048 2>/dev/null | awk '/^rsa 2048 bits/ {print "rsa2048 verify/s " $NF; print $NF > "'"$tmp/osslrsa"'"}'
echo "== POST /v1/login, OIDC token exchange (wrk -t2 -c$CONNS -d${DUR}s)"
wrk -t2 -c"$CONNS" -d"${DUR}s" --latency -s "$tmp/exchange.lua" "http://127.0.0.1:$port/v1/login" | tee "$tmp/wrk4"
xnon2xx=$(awk '/Non-2xx/ {print $NF}' "$tmp/wrk4")
$PY - "$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk4")" "$(cat "$tmp/osslrsa")" "$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk1")" \
    "$(awk '$1 == "50%" {print $2}' "$tmp/wrk4")" "$(awk '$1 == "99%" {print $2}' "$tmp/wrk4")" "${xnon2xx:-0}" <<'PYEOF'
import sys
x, rsa, tok = (float(v) for v in sys.argv[1:4])
p50, p99, bad = sys.argv[4], sys.argv[5], float(sys.argv[6])
print(f"== exchange summary: {x:,.0f} exchanges/s on 2 cores (p50 {p50}, p99 {p99}); "
      f"openssl rsa2048 verify {rsa:,.0f}/s on 1 core; {x/tok:.2f}x the /token rate of this run")
if bad:
    print(f"WARNING: {bad:.0f} non-2xx answers during the exchange run")
PYEOF
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
print(f"/token (password):    {pw:,.0f} tokens/s at 4 connections (the verified-password cache spares the "
      f"yescrypt of every request after the first in a minute)")
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
