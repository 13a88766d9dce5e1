"""Scale-out (DESIGN.md: replicas share only the configuration directory): two regauthd
replicas, their own processes on their own ports, serving ONE configuration directory,
behind Debian's nginx (started here with its own configuration in a temporary folder), with
a dedicated registry 2.8 whose realm is the nginx address, and a redis-server (Debian's) on
a free loopback port for the state replicas may share.

It shows: a skopeo push loop keeps succeeding while one replica is SIGKILLed and restarted
mid-loop; with Redis, an assertion used at replica A is refused when replayed at replica B,
and without Redis the same replay is accepted (why Redis is needed); failed logins counted
across replicas with Redis (and not without); Redis down: assertions refused (fail closed)
with a clear log line, passwords still work. Every server listens on 127.0.0.1 only and is
stopped by its PID."""

import json
import secrets
import signal
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

import jwt
import pytest

import support as S
from conftest import Registry

FORM = "application/x-www-form-urlencoded"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_FAILED_PER_USER = 3
PUSHES = 20

PUSH_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": ["registry:Pull", "registry:Push"],
                   "Resource": "repository/replicas/*"}],
}

NGINX_CONF = """\
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/tmp/body;
    proxy_temp_path {dir}/tmp/proxy;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    upstream regauthd {{
        server 127.0.0.1:{port_a} max_fails=1 fail_timeout=1s;
        server 127.0.0.1:{port_b} max_fails=1 fail_timeout=1s;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://regauthd;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 2;
            proxy_connect_timeout 1s;
            proxy_read_timeout 10s;
        }}
    }}
}}
"""


class Cluster:
    """The configuration directory, redis-server, replicas A and B, nginx, the registry."""

    def __init__(self, base):
        self.base = Path(base)
        self.bin = S.need_regauthd()
        self.dir = self.base / "regauth"
        self.redis_port = S.free_port()
        self.nginx_port = S.free_port()
        self.ports = {"a": S.free_port(), "b": S.free_port()}
        self.daemons = {}
        self.redis = None
        self.nginx = None
        self.registry = None
        self.users = {}
        self.redis_on = False
        self.restarts = 0

    # --- setup

    def cli(self, *args, input=None):
        return S.run([self.bin, *map(str, args)], input=input, timeout=60)

    def setup(self):
        realm = f"http://127.0.0.1:{self.nginx_port}/token"
        self.cli("init", self.dir, "--service", S.SERVICE, "--issuer", S.ISSUER,
                 "--realm", realm)
        (self.dir / "policies" / "replicas-push.json").write_text(json.dumps(PUSH_POLICY))
        for name in ("pusher", "victim", "nored", "steady"):
            pw = secrets.token_hex(16)
            self.cli("user", "add", "-c", self.dir, name, "--password-stdin",
                     "--policy", "replicas-push", input=(pw + "\n").encode())
            self.users[name] = pw
        self.key_file = self.base / "ci.key"
        self.cli("sa", "create", "-c", self.dir, "ci", "--policy", "replicas-push",
                 "--key-out", self.key_file)
        self.kf = json.loads(self.key_file.read_text())
        self.write_settings(redis=True)
        self.bundle = self.dir / "keys" / "bundle.pem"
        self.verifier = S.TokenVerifier(self.bundle.read_bytes(), S.ISSUER, (S.SERVICE,))
        self.start_redis()
        for name in self.ports:
            self.start_replica(name)
        self.start_nginx()
        regdir = self.base / "registry"
        regdir.mkdir()
        self.registry = Registry(regdir, realm, S.SERVICE, S.ISSUER, self.bundle)

    def write_settings(self, redis):
        f = self.dir / "regauthd.json"
        settings = json.loads(f.read_text())
        settings["trusted_proxies"] = ["127.0.0.1"]
        settings["max_failed_logins_per_user"] = MAX_FAILED_PER_USER
        settings.pop("redis", None)
        if redis:
            settings["redis"] = {"address": f"127.0.0.1:{self.redis_port}",
                                 "prefix": "e2e:", "timeout_ms": 200}
        f.write_text(json.dumps(settings, indent=2))
        self.redis_on = redis

    def start_redis(self):
        d = self.base / "redis"
        d.mkdir(exist_ok=True)
        self.redis = S.Daemon("redis-server", [
            S.need_binary("redis-server"), "--bind", "127.0.0.1", "--port", self.redis_port,
            "--save", "", "--appendonly", "no", "--dir", d], d / "redis.log")
        S.wait_until(lambda: self.redis_cli("PING").strip() == "PONG", 20,
                     "redis-server to answer PING", self.redis)

    def redis_cli(self, *args):
        res = subprocess.run([S.need_binary("redis-cli"), "-h", "127.0.0.1", "-p",
                              str(self.redis_port), *map(str, args)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        return res.stdout.decode()

    def start_replica(self, name):
        port = self.ports[name]
        self.daemons[name] = S.Daemon(
            f"regauthd-{name}", [self.bin, "serve", "-c", self.dir, "--listen",
                                 f"127.0.0.1:{port}"],
            self.base / f"regauthd-{name}.log")
        S.wait_until(lambda: S.http_request(port, "GET", "/healthz", timeout=5).status == 200,
                     20, f"replica {name} /healthz", self.daemons[name])

    def start_nginx(self):
        d = self.base / "nginx"
        for sub in ("tmp/body", "tmp/proxy", "tmp/fastcgi", "tmp/uwsgi", "tmp/scgi"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        (d / "nginx.conf").write_text(NGINX_CONF.format(
            dir=d, port=self.nginx_port, port_a=self.ports["a"], port_b=self.ports["b"]))
        self.nginx = S.Daemon("nginx", [
            S.need_binary("nginx"), "-e", "stderr", "-p", d, "-c", d / "nginx.conf",
            "-g", f"daemon off; pid {d}/nginx.pid; error_log stderr;"], d / "nginx.log")
        S.wait_until(lambda: S.http_request(self.nginx_port, "GET", "/healthz",
                                            timeout=5).status == 200,
                     20, "nginx to proxy /healthz", self.nginx)

    def stop(self):
        rcs = {}
        for d in [self.nginx, *self.daemons.values(), self.redis,
                  self.registry.daemon if self.registry else None]:
            if d is not None:
                rcs[d.name] = d.stop()
        return rcs

    # --- operations

    def reload_all(self):
        """SIGHUP both replicas (by PID) and wait until each says it reloaded."""
        offs = {n: d.log_size() for n, d in self.daemons.items()}
        for d in self.daemons.values():
            d.proc.send_signal(signal.SIGHUP)
        for n, d in self.daemons.items():
            S.wait_until(lambda: "configuration reloaded" in d.log_text(offs[n]), 10,
                         f"replica {n} to reload", d)

    def set_redis(self, on):
        if self.redis_on != on:
            self.write_settings(redis=on)
            self.reload_all()

    def request(self, name, method, path, **kw):
        port = self.nginx_port if name == "nginx" else self.ports[name]
        return S.http_request(port, method, path, **kw)

    def assertion(self, jti=None):
        now = int(time.time())
        claims = {"iss": self.kf["principal"], "sub": self.kf["principal"],
                  "aud": self.kf["issuer"], "iat": now, "exp": now + 60,
                  "jti": jti or secrets.token_hex(16)}
        return jwt.encode(claims, self.kf["private_key"], algorithm="ES256",
                          headers={"kid": self.kf["key_id"]})

    def login(self, name, assertion):
        body = urllib.parse.urlencode({"grant_type": JWT_BEARER,
                                       "assertion": assertion}).encode()
        return self.request(name, "POST", "/v1/login", headers={"Content-Type": FORM},
                            body=body)

    def password_get(self, name, user, password, source=None):
        q = urllib.parse.urlencode([("service", S.SERVICE),
                                    ("scope", "repository:replicas/app:pull")])
        return self.request(name, "GET", f"/token?{q}", source=source,
                            headers={"Authorization": S.basic(user, password)})

    def verify_token(self, reply):
        assert reply.status == 200, reply
        n, claims = self.verifier.token_response(
            reply.json(), method="GET", scopes=["repository:replicas/app:pull"],
            service=S.SERVICE)
        S.LEDGER.record(fetched=1, verified=n)
        return claims

    def verify_login(self, reply):
        assert reply.status == 200, reply
        claims = self.verifier.login_token(reply.json()["access_token"])
        assert claims["sub"] == self.kf["principal"]
        return claims

    def records(self, name, since=0):
        out = []
        for line in self.daemons[name].log_text(since).splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("replicas"))
    try:
        c.setup()
        yield c
    finally:
        rcs = c.stop()
    bad = {n: rc for n, rc in rcs.items() if n.startswith("regauthd") and rc != 0}
    assert not bad, f"replicas did not exit 0 on SIGTERM: {bad}"


def same_window(seconds_needed):
    """Failed logins count per wall-clock minute: start a burst early enough in one."""
    if 60 - time.time() % 60 < seconds_needed:
        time.sleep(60 - time.time() % 60 + 0.2)


def assert_refused_assertion(reply):
    assert reply.status == 401, reply
    assert reply.json() == {"errors": [{"code": "UNAUTHORIZED",
                                        "message": "invalid assertion"}]}, reply


def assert_locked(reply):
    assert reply.status == 429, reply
    ra = reply.headers.get("Retry-After", "")
    assert ra.isdigit() and 1 <= int(ra) <= 60, ra


# ---------------------------------------------------------------------------------------


def test_push_loop_survives_replica_kill(cluster, client_env, tmp_path):
    """20 skopeo pushes through the registry, whose realm is nginx; replica A is SIGKILLed
    during push 6 and restarted during push 11: every push succeeds."""
    cluster.set_redis(True)
    layout = tmp_path / "oci"
    S.build_oci_layout(layout, tag="v1", payload=b"replicas " + secrets.token_bytes(8))
    skopeo = S.need_binary("skopeo")
    creds = f"pusher:{cluster.users['pusher']}"
    started = [threading.Event() for _ in range(PUSHES)]
    log_a0 = cluster.daemons["a"].log_size()
    log_b0 = cluster.daemons["b"].log_size()
    events = []

    def chaos():
        started[5].wait(120)
        time.sleep(0.1)
        old = cluster.daemons["a"]
        events.append(("killed", old.pid, time.monotonic()))
        rc = old.stop(sig=signal.SIGKILL)
        events.append(("exit", rc, time.monotonic()))
        started[10].wait(120)
        events.append(("log", cluster.daemons["a"].log_size(), time.monotonic()))
        cluster.start_replica("a")
        cluster.restarts += 1
        events.append(("restarted", cluster.daemons["a"].pid, time.monotonic()))

    t = threading.Thread(target=chaos, daemon=True)
    t.start()
    results = []
    for i in range(PUSHES):
        started[i].set()
        dest = f"docker://{cluster.registry.host}/replicas/app:t{i}"
        res = S.run([skopeo, "copy", "--quiet", "--dest-tls-verify=false",
                     "--dest-creds", creds, f"oci:{layout}:v1", dest],
                    env=client_env, check=False, timeout=120)
        results.append((i, res.returncode, res.err.strip()[-300:]))
        time.sleep(0.25)  # paced, so nginx sends the restarted A work again
    t.join(120)
    failed = [r for r in results if r[1] != 0]
    print(f"\npushes attempted {len(results)}, succeeded {len(results) - len(failed)}; "
          f"events {[(e[0], e[1]) for e in events]}")
    assert not t.is_alive(), "the kill/restart thread did not finish"
    assert [e[0] for e in events] == ["killed", "exit", "log", "restarted"], events
    assert events[1][1] == -signal.SIGKILL, events
    assert not failed, f"{len(failed)} of {PUSHES} pushes failed: {failed}"
    # Both replicas served token requests during the loop (B before and after the kill,
    # the restarted A again once nginx saw it back).
    def tokens(name, since):
        return [r for r in cluster.records(name, since)
                if r.get("path") == "/token" and r.get("status") == 200]
    assert tokens("b", log_b0), "replica B served no token during the loop"
    assert tokens("a", log_a0), "replica A served no token before the kill"
    assert tokens("a", events[2][1]), "the restarted replica A served no token"
    # nginx did meet the dead replica and passed those requests on to B.
    nginx_log = cluster.nginx.log_text()
    assert "Connection refused" in nginx_log, nginx_log[-2000:]
    # nginx answered no client with a 5xx.
    access = (cluster.base / "nginx" / "access.log").read_text()
    assert '" 502 ' not in access and '" 504 ' not in access, access[-2000:]
    # Every tag is in the registry (read with a token fetched through nginx).
    r = cluster.password_get("nginx", "pusher", cluster.users["pusher"])
    cluster.verify_token(r)
    r = cluster.registry.request("GET", "/v2/replicas/app/tags/list",
                                 headers={"Authorization": "Bearer " + r.json()["token"]})
    assert r.status == 200, r
    assert sorted(r.json()["tags"]) == sorted(f"t{i}" for i in range(PUSHES)), r


def test_replay_refused_across_replicas_with_redis(cluster):
    cluster.set_redis(True)
    a = cluster.assertion()
    cluster.verify_login(cluster.login("a", a))
    off = cluster.daemons["b"].log_size()
    assert_refused_assertion(cluster.login("b", a))
    assert_refused_assertion(cluster.login("a", a))
    assert_refused_assertion(cluster.login("nginx", a))
    msgs = " ".join(r.get("msg", "") for r in cluster.records("b", off))
    assert "jti already used (replay)" in msgs, msgs
    # The same jti in a freshly signed assertion is a replay too.
    jti = jwt.decode(a, options={"verify_signature": False})["jti"]
    assert_refused_assertion(cluster.login("b", cluster.assertion(jti=jti)))
    # Redis holds the jti hashed, never the assertion, the jti or the account.
    keys = cluster.redis_cli("KEYS", "*")
    assert "e2e:jti:" in keys, keys
    assert jti not in keys and "serviceaccount" not in keys and a not in keys


def test_replay_accepted_across_replicas_without_redis(cluster):
    """Why Redis is needed: each replica remembers only the assertions it saw."""
    cluster.set_redis(False)
    try:
        a = cluster.assertion()
        cluster.verify_login(cluster.login("a", a))
        # Replayed at B: accepted (B never saw it) ...
        cluster.verify_login(cluster.login("b", a))
        # ... though each replica on its own refuses a replay.
        assert_refused_assertion(cluster.login("a", a))
        assert_refused_assertion(cluster.login("b", a))
    finally:
        cluster.set_redis(True)


def test_failed_logins_counted_across_replicas(cluster):
    cluster.set_redis(True)
    pw = cluster.users["victim"]
    src = S.next_loopback()
    same_window(15)
    off = {n: cluster.daemons[n].log_size() for n in ("a", "b")}
    # Two failures at A and two at B (limit 3 a minute): the third failure, at B, locks.
    for name in ("a", "a", "b"):
        assert cluster.password_get(name, "victim", "wrong", source=src).status == 401
    assert_locked(cluster.password_get("b", "victim", "wrong", source=src))
    # Locked at either replica, and through nginx, even with the right password.
    assert_locked(cluster.password_get("a", "victim", pw, source=S.next_loopback()))
    assert_locked(cluster.password_get("b", "victim", pw, source=S.next_loopback()))
    via = S.next_loopback()
    assert_locked(cluster.password_get("nginx", "victim", pw, source=via))
    # Through nginx, the replica saw the real client (X-Forwarded-For from a trusted proxy).
    # (A request's log line is written once its answer went out: wait for it.)
    S.wait_until(lambda: any(r.get("client") == via and r.get("status") == 429
                             and r.get("peer") == "127.0.0.1"
                             for n in ("a", "b") for r in cluster.records(n, off[n])),
                 5, "the replica's log line of the request through nginx")
    # One replica logged the start of the lock; no password in any log.
    locks = [r for n in ("a", "b") for r in cluster.records(n, off[n])
             if "too many failed logins" in r.get("msg", "")]
    assert [r.get("user") for r in locks] == ["victim"], locks
    for n in ("a", "b"):
        assert pw not in cluster.daemons[n].log_text(off[n])
    # Redis holds hashed counters: no user name, no address.
    keys = cluster.redis_cli("KEYS", "e2e:fail:*")
    assert "e2e:fail:user:" in keys and "e2e:fail:addr:" in keys, keys
    assert "victim" not in keys and src not in keys
    # Other users are unaffected.
    cluster.verify_token(cluster.password_get("b", "steady", cluster.users["steady"]))


def test_failed_logins_per_replica_without_redis(cluster):
    """Contrast: without Redis, 2 failures at A and 2 at B lock neither replica."""
    cluster.set_redis(False)
    try:
        src = S.next_loopback()
        same_window(15)
        for name in ("a", "a", "b", "b"):
            assert cluster.password_get(name, "nored", "wrong", source=src).status == 401
        cluster.verify_token(cluster.password_get("a", "nored", cluster.users["nored"]))
        cluster.verify_token(cluster.password_get("b", "nored", cluster.users["nored"]))
    finally:
        cluster.set_redis(True)


def test_redis_down_fails_closed(cluster):
    cluster.set_redis(True)
    # Works first.
    cluster.verify_login(cluster.login("a", cluster.assertion()))
    off = {n: cluster.daemons[n].log_size() for n in ("a", "b")}
    cluster.redis.stop()
    try:
        # Assertions are refused at both replicas: fail closed, with a clear log line,
        # and 503 (try again), not 401: the client's assertion may well be good, and the
        # refusal is not counted as a failed login.
        for name in ("a", "b", "a", "b"):
            reply = cluster.login(name, cluster.assertion())
            assert reply.status == 503, reply
            assert reply.json()["errors"][0]["code"] == "UNAVAILABLE", reply
        for n in ("a", "b"):
            recs = cluster.records(n, off[n])
            errors = [r["msg"] for r in recs if r.get("level") == "error"]
            assert any("fail closed" in m and "replay" in m for m in errors), recs
            refusals = [r["msg"] for r in recs if "assertion:" in r.get("msg", "")]
            assert any("replay cache unavailable" in m for m in refusals), refusals
        # Passwords still work (the failed-login limits fall back to memory) ...
        for name in ("a", "b", "nginx"):
            cluster.verify_token(cluster.password_get(name, "steady",
                                                      cluster.users["steady"]))
        # ... and a failed password is still refused, counted by the replica alone.
        src = S.next_loopback()
        assert cluster.password_get("a", "steady", "wrong", source=src).status == 401
        errors = [r["msg"] for r in cluster.records("a", off["a"])
                  if r.get("level") == "error"]
        assert any("fail open" in m for m in errors), errors
        assert cluster.daemons["a"].poll() is None and cluster.daemons["b"].poll() is None
    finally:
        cluster.start_redis()
    # Redis back: assertions are accepted again once the replicas' backoff has passed.
    deadline = time.monotonic() + 10
    while True:
        r = cluster.login("b", cluster.assertion())
        if r.status == 200:
            cluster.verify_login(r)
            break
        assert time.monotonic() < deadline, r
        time.sleep(0.3)
