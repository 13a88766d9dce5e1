"""Signing-key rotation end to end (`regauthd keys rotate`, issue 6).

A regauthd, a token-verifying proxy and a registry of their own (the session's regauthd is
shared by other tests; rotating its keys would change what they see). During a wrk run on
GET /token (Basic with a login token) and a loop of skopeo pushes, the keys are rotated and
the server reloaded with SIGHUP: wrk sees nothing but 200, every push succeeds, the registry
accepts tokens of the old and of the new key, and the JWKS lists both. Then a rotation with
--activate-after: tokens carry the old kid until the new key's time, the new one after it,
with no reload in between.
"""

import base64
import json
import os
import subprocess
import threading
import time
import urllib.parse

import pytest

import conftest
import support as S

SCOPE = "repository:team-a/rot:pull,push"

# Counts every answer that is not 200, in all threads (wrk's own summary counts only
# statuses above 399 as errors).
WRK_LUA = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0; seen = 0 end
function response(status, headers, body)
  seen = seen + 1
  if status ~= 200 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local b, s = 0, 0
  for _, t in ipairs(threads) do b = b + t:get("bad"); s = s + t:get("seen") end
  local e = summary.errors
  io.write(string.format("RESULT requests=%d responses=%d non200=%d connect=%d read=%d "
    .. "write=%d timeout=%d\\n", summary.requests, s, b, e.connect, e.read, e.write,
    e.timeout))
end
"""


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A fresh token proxy, regauthd (conftest.Regauthd) and registry for this module."""
    proxy = S.TokenProxy(upstream_port=S.free_port())
    srv = conftest.Regauthd(tmp_path_factory.mktemp("rot-regauthd"), proxy)
    reg = None
    try:
        srv.setup()
        proxy.verifier = srv.verifier
        reg = conftest.Registry(tmp_path_factory.mktemp("rot-registry"), srv.realm,
                                srv.service, srv.issuer, srv.dir / "keys" / "bundle.pem")
        yield srv, reg, proxy
    finally:
        if reg is not None:
            reg.daemon.stop()
        rc = srv.stop()
        proxy.close()
    assert rc == 0, f"regauthd did not exit 0 on SIGTERM (status {rc})"


reload_and_wait = S.reload_and_wait


def kid_of(token):
    return json.loads(S.b64u_decode(token.split(".")[0]))["kid"]


def jwks_kids(srv):
    r = srv.request("GET", "/.well-known/jwks.json")
    assert r.status == 200, r
    return [k["kid"] for k in r.json()["keys"]]


def registry_token(srv, user="alice"):
    """A registry token for SCOPE, straight from regauthd, verified independently."""
    r = srv.token_get([("service", srv.service), ("scope", SCOPE)], user=user)
    srv.verify_reply(r, "GET", [SCOPE])
    return r.json()["token"]


def registry_accepts(reg, token):
    r = reg.request("GET", "/v2/team-a/rot/tags/list",
                    headers={"Authorization": f"Bearer {token}"})
    return r.status in (200, 404), r  # 404 NAME_UNKNOWN before the first push


def keys_list(srv):
    res = srv.cli("keys", "list", "-c", srv.dir, "--json")
    return {k["file"]: k for k in json.loads(res.out)["keys"]}


def rotate(srv, *args):
    res = srv.cli("keys", "rotate", "-c", srv.dir, "--json", *args)
    assert "PRIVATE KEY" not in res.out + res.err
    return json.loads(res.out)


def push_env(base):
    home = base / "home"
    home.mkdir(parents=True)
    run_dir = base / "run"
    run_dir.mkdir(mode=0o700)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
            "XDG_RUNTIME_DIR": str(run_dir), "TMPDIR": str(base), "LANG": "C.UTF-8",
            "REGISTRY_AUTH_FILE": str(base / "auth.json")}


class PushLoop(threading.Thread):
    """skopeo pushes of the small image, one after the other, until stopped. Even rounds
    log in with the password, odd ones with a login token (Basic, any username)."""

    def __init__(self, skopeo, image, reg, creds, cenv):
        super().__init__(name="push-loop", daemon=True)
        self.argv = [skopeo, "copy", "--quiet", "--dest-tls-verify=false"]
        self.image, self.reg, self.creds, self.env = image, reg, creds, cenv
        self.stop_at = None
        self.results = []  # (start, end, returncode, stderr)
        self.halt = threading.Event()

    def run(self):
        i = 0
        while not self.halt.is_set():
            creds = self.creds[i % len(self.creds)]
            t0 = time.time()
            try:
                res = subprocess.run(
                    self.argv + ["--dest-creds", creds, self.image["ref"],
                                 f"docker://{self.reg.host}/team-a/rot:r{i}"],
                    env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                    timeout=120)
                rc, err = res.returncode, res.stderr.decode(errors="replace")
            except subprocess.TimeoutExpired:
                rc, err = -1, "timed out"
            self.results.append((t0, time.time(), rc, err[-2000:]))
            i += 1


def parse_wrk(out):
    line = next((ln for ln in out.splitlines() if ln.startswith("RESULT ")), None)
    assert line, f"wrk printed no RESULT line:\n{out}"
    return {k: int(v) for k, v in (kv.split("=") for kv in line.split()[1:])}


def test_rotation_under_load(env, oci_image, skopeo_bin, tmp_path):
    srv, reg, proxy = env
    wrk = S.need_binary("wrk")
    login = srv.login_token("alice")
    old_kid = kid_of(login)
    assert jwks_kids(srv) == [old_kid]
    before = registry_token(srv)
    assert kid_of(before) == old_kid
    ok, r = registry_accepts(reg, before)
    assert ok, r
    rec0 = proxy.count()

    script = tmp_path / "count.lua"
    script.write_text(WRK_LUA)
    q = urllib.parse.urlencode([("service", srv.service), ("scope", SCOPE),
                                ("account", "alice")])
    basic = base64.b64encode(f"x:{login}".encode()).decode()
    duration = 12
    wrk_proc = subprocess.Popen(
        [wrk, "-t2", "-c8", f"-d{duration}s", "--timeout", "5s", "-s", str(script),
         "-H", f"Authorization: Basic {basic}", f"{srv.url}/token?{q}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    pushes = PushLoop(skopeo_bin, oci_image, reg,
                      [f"alice:{srv.users['alice']}", f"x:{login}"], push_env(tmp_path))
    pushes.start()
    try:
        time.sleep(3)
        new = rotate(srv)
        assert new["file"] == "signing-2" and new["kid"] != old_kid
        assert new["alg"] == "ES256" and new["pruned"] == []
        reload_and_wait(srv)
        reloaded_at = time.time()
        out, _ = wrk_proc.communicate(timeout=duration + 30)
        # Let the loop finish at least two pushes that began after the reload.
        deadline = time.time() + 90
        while sum(1 for r in pushes.results if r[0] > reloaded_at) < 2:
            assert time.time() < deadline, "pushes after the reload never finished"
            assert pushes.is_alive()
            time.sleep(0.2)
    finally:
        pushes.halt.set()
        pushes.join(130)
        if wrk_proc.poll() is None:
            wrk_proc.kill()
            wrk_proc.wait()

    text = out.decode(errors="replace")
    w = parse_wrk(text)
    print(f"wrk: {w}; pushes: {len(pushes.results)}")
    assert w["requests"] > 100, text
    assert w["non200"] == 0, text
    assert w["connect"] == w["read"] == w["write"] == w["timeout"] == 0, text
    failed = [r for r in pushes.results if r[2] != 0]
    assert not failed, f"{len(failed)} of {len(pushes.results)} pushes failed: {failed[:3]}"
    assert len(pushes.results) >= 3

    # The registry got tokens of both keys during the pushes, and accepted them all.
    kids = {kid_of(rec.response["token"]) for rec in proxy.records_since(rec0)
            if rec.path == "/token" and rec.status == 200 and rec.response}
    assert {old_kid, new["kid"]} <= kids, kids

    # Afterwards: the old token and a new one both pass the registry; the old login token
    # still logs in; the JWKS lists both keys; keys list says which does what.
    after = registry_token(srv)
    assert kid_of(after) == new["kid"]
    for tok in (before, after):
        ok, r = registry_accepts(reg, tok)
        assert ok, r
    r = srv.token_get([("service", srv.service), ("scope", SCOPE)], user="x",
                      password=login)
    srv.verify_reply(r, "GET", [SCOPE])
    assert sorted(jwks_kids(srv)) == sorted([old_kid, new["kid"]])
    states = keys_list(srv)
    assert states["signing"]["state"] == "previous"
    assert states["signing"]["retire_at"] == new["activate_at"] + 43200  # login token life
    assert states["signing-2"]["state"] == "active"
    assert srv.alive()


def test_activate_after(env):
    srv, reg, _ = env
    cur = registry_token(srv)
    cur_kid = kid_of(cur)
    new = rotate(srv, "--activate-after", "3")
    assert new["activate_at"] - new["created"] == 3
    reload_and_wait(srv)
    assert time.time() < new["activate_at"], "the reload took longer than --activate-after"

    # Pending: the JWKS lists it already, tokens still carry the old kid.
    assert new["kid"] in jwks_kids(srv) and cur_kid in jwks_kids(srv)
    assert keys_list(srv)[new["file"]]["state"] == "pending"
    early = registry_token(srv)
    assert kid_of(early) == cur_kid
    res = srv.cli("keys", "rotate", "-c", srv.dir, check=False)
    assert res.returncode == 1 and "pending" in res.err, res.err

    # Its time comes: the same running configuration signs with the new key.
    while time.time() < new["activate_at"] + 0.2:
        time.sleep(0.1)
    late = registry_token(srv)
    assert kid_of(late) == new["kid"]
    assert keys_list(srv)[new["file"]]["state"] == "active"
    for tok in (early, late):
        ok, r = registry_accepts(reg, tok)
        assert ok, r
    assert cur_kid in jwks_kids(srv)
    log = srv.daemon.log_text()
    assert "PRIVATE KEY" not in log
