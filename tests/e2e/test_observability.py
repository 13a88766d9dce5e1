"""Operating regauthd: GET /metrics (Prometheus text 0.0.4, read here by a strict parser of
its own) and the audit log (one JSON line per decision, "audit_log" in regauthd.json,
reopened on SIGUSR1).

A dedicated regauthd with its own configuration directory (the session one has no
audit_log), so every counter moves only by what these tests do and can be checked exactly.
The last test greps its log and every audit file for every password, login token, registry
token, service-account assertion and private key used here: none may appear."""

import json
import math
import os
import re
import secrets
import signal
import time
import urllib.parse
from pathlib import Path

import jwt
import pytest

import support as S

FORM = "application/x-www-form-urlencoded"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "TeamAPullPush", "Effect": "Allow",
         "Action": ["registry:Pull", "registry:Push"], "Resource": "repository/team-a/*"},
        {"Sid": "FrozenNoPush", "Effect": "Deny", "Action": "registry:Push",
         "Resource": "repository/team-a/frozen"},
    ],
}
DEV = {"file": "policies/obs-dev.json", "kind": "identity", "sid": "TeamAPullPush",
       "statement": 0}
FROZEN = {"file": "policies/obs-dev.json", "kind": "identity", "sid": "FrozenNoPush",
          "statement": 1}
TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
ID_RE = re.compile(r"[0-9a-f]{24}")


# ---------------------------------------------------------------------------------------
# a strict reader of the Prometheus text format 0.0.4

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')


def _unescape(v):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


class Metrics:
    def __init__(self, families, samples):
        self.families = families  # name -> {"help", "type"}
        self.samples = samples    # (name, ((label, value), ...)) -> float

    def get(self, name, **labels):
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def series(self, name):
        return {k[1]: v for k, v in self.samples.items() if k[0] == name}


def parse_metrics(text):
    """Every line is # HELP, # TYPE or a sample; each family has HELP then TYPE once, before
    its samples; samples belong to the family declared last; labels are well quoted; no
    series twice; histograms have cumulative buckets ending in +Inf equal to _count."""
    assert text.endswith("\n"), "exposition must end with a newline"
    families, samples, current = {}, {}, None
    for ln in text[:-1].split("\n"):
        assert ln, "empty line in the exposition"
        if ln.startswith("# HELP "):
            name, _, help_ = ln[7:].partition(" ")
            assert NAME_RE.fullmatch(name) and name.startswith("regauth_"), ln
            assert help_.strip() and name not in families, ln
            families[name] = {"help": help_, "type": None}
            current = name
            continue
        if ln.startswith("# TYPE "):
            name, _, typ = ln[7:].partition(" ")
            assert name == current and families[name]["type"] is None, ln
            assert typ in ("counter", "gauge", "histogram"), ln
            families[name]["type"] = typ
            continue
        assert not ln.startswith("#"), f"stray comment: {ln!r}"
        assert current and families[current]["type"], f"sample before HELP/TYPE: {ln!r}"
        m = NAME_RE.match(ln)
        assert m, ln
        name, rest, labels = m.group(0), ln[m.end():], {}
        if rest.startswith("{"):
            i = 1
            while True:
                lm = LABEL_RE.match(rest, i)
                assert lm, f"bad label in {ln!r}"
                assert lm.group(1) not in labels, ln
                labels[lm.group(1)] = _unescape(lm.group(2))
                i = lm.end()
                if rest[i] == "}":
                    rest = rest[i + 1:]
                    break
                assert rest[i] == ",", ln
                i += 1
        assert rest.startswith(" ") and " " not in rest[1:], f"value of {ln!r}"
        value = float(rest[1:])
        assert not math.isnan(value), ln
        fam, typ = current, families[current]["type"]
        if typ == "histogram":
            assert name in (fam + "_bucket", fam + "_sum", fam + "_count"), ln
            assert ("le" in labels) == (name == fam + "_bucket"), ln
        else:
            assert name == fam, ln
        if typ == "counter":
            assert value >= 0 and value == int(value), ln
        key = (name, tuple(sorted(labels.items())))
        assert key not in samples, f"series twice: {ln!r}"
        samples[key] = value
    assert all(f["type"] for f in families.values())
    for fam, f in families.items():
        if f["type"] != "histogram":
            continue
        groups = {}
        for (name, labels), v in samples.items():
            if name == fam + "_bucket":
                rest = tuple(kv for kv in labels if kv[0] != "le")
                groups.setdefault(rest, []).append((float(dict(labels)["le"]), v))
        for rest, buckets in groups.items():
            buckets.sort()
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), f"{fam}{rest}: buckets not cumulative"
            assert buckets[-1][0] == math.inf, f"{fam}{rest}: no +Inf bucket"
            assert samples[(fam + "_count", rest)] == counts[-1], f"{fam}{rest}: _count"
            assert samples[(fam + "_sum", rest)] >= 0
    return Metrics(families, samples)


# ---------------------------------------------------------------------------------------
# the dedicated server


class Obs:
    def __init__(self, base):
        self.base = Path(base)
        self.bin = S.need_regauthd()
        self.dir = self.base / "cfg"
        self.audit_dir = self.base / "audit"
        self.audit_dir.mkdir()
        self.audit = self.audit_dir / "audit.log"
        self.port = S.free_port()
        self.secrets = set()   # every secret sent or received
        self.scrapes = 0

    def cli(self, *args, input=None, check=True):
        return S.run([self.bin, *map(str, args)], input=input, check=check, timeout=60)

    def start(self):
        self.cli("init", self.dir, "--service", S.SERVICE, "--issuer", S.ISSUER,
                 "--realm", f"http://127.0.0.1:{self.port}/token")
        self.set_setting("audit_log", str(self.audit))
        (self.dir / "policies" / "obs-dev.json").write_text(json.dumps(POLICY))
        self.password = "pw-" + secrets.token_hex(12)
        self.secrets.add(self.password)
        self.cli("user", "add", "-c", self.dir, "alice", "--password-stdin", "--policy",
                 "obs-dev", input=(self.password + "\n").encode())
        key_out = self.base / "ci.key"
        self.cli("sa", "create", "-c", self.dir, "ci", "--policy", "obs-dev",
                 "--key-out", key_out)
        self.key = json.loads(key_out.read_text())
        pem = self.key["private_key"]
        self.secrets.add(pem)
        self.secrets.update(ln for ln in pem.splitlines() if ln and not ln.startswith("-----"))
        self.verifier = S.TokenVerifier((self.dir / "keys" / "bundle.pem").read_bytes(),
                                        S.ISSUER, (S.SERVICE,))
        self.daemon = S.Daemon("regauthd-obs", [self.bin, "serve", "-c", self.dir, "--listen",
                                                f"127.0.0.1:{self.port}"],
                               self.base / "regauthd.log")
        S.wait_until(lambda: self.request("GET", "/healthz").status == 200, 20,
                     "regauthd-obs /healthz", self.daemon)

    def set_setting(self, key, value):
        path = self.dir / "regauthd.json"
        settings = json.loads(path.read_text())
        if value is None:
            settings.pop(key, None)
        else:
            settings[key] = value
        path.write_text(json.dumps(settings))

    # --- HTTP

    def request(self, method, path, **kw):
        return S.http_request(self.port, method, path, **kw)

    def token(self, scopes=(), password=None, user="alice", extra=(), anonymous=False):
        q = urllib.parse.urlencode([("service", S.SERVICE)] + [("scope", s) for s in scopes]
                                   + list(extra))
        hdrs = {}
        if not anonymous:
            pw = self.password if password is None else password
            self.secrets.add(pw)
            hdrs["Authorization"] = S.basic(user, pw)
        r = self.request("GET", f"/token?{q}", headers=hdrs)
        self.keep(r)
        return r

    def post(self, path, form):
        r = self.request("POST", path, headers={"Content-Type": FORM},
                         body=urllib.parse.urlencode(form).encode())
        self.keep(r)
        return r

    def keep(self, reply):
        """Every token in an answer is a secret the logs must never show."""
        try:
            body = reply.json()
        except ValueError:
            return
        if isinstance(body, dict):
            for k in ("token", "access_token", "refresh_token"):
                if isinstance(body.get(k), str):
                    self.secrets.add(body[k])
                    self.secrets.add(body[k].rsplit(".", 1)[-1])  # its signature

    def verify(self, reply, method, scopes):
        assert reply.status == 200, reply
        n, claims = self.verifier.token_response(reply.json(), method=method, scopes=scopes)
        S.LEDGER.record(fetched=1, verified=n)
        return claims

    def assertion(self, **claims):
        now = int(time.time())
        body = {"iss": self.key["principal"], "sub": self.key["principal"],
                "aud": self.key["issuer"], "iat": now, "exp": now + 60,
                "jti": secrets.token_hex(16)}
        body.update(claims)
        a = jwt.encode(body, self.key["private_key"], algorithm="ES256",
                       headers={"kid": self.key["key_id"]})
        self.secrets.add(a)
        self.secrets.add(a.rsplit(".", 1)[-1])
        return a

    def login_key(self, assertion):
        return self.post("/v1/login", [("grant_type", JWT_BEARER), ("assertion", assertion)])

    def scrape(self):
        r = self.request("GET", "/metrics")
        assert r.status == 200, r
        assert r.headers.get("Content-Type") == "text/plain; version=0.0.4", r.headers
        self.scrapes += 1
        return parse_metrics(r.text)

    # --- logs

    def audit_lines(self, path=None):
        text = Path(path or self.audit).read_text()
        assert text == "" or text.endswith("\n")
        return [json.loads(ln) for ln in text.splitlines()]

    def audit_of(self, reply, path=None):
        rid = reply.headers.get("X-Request-Id")
        assert rid and ID_RE.fullmatch(rid), reply.headers
        got = [x for x in self.audit_lines(path) if x["request_id"] == rid]
        assert len(got) == 1, (rid, got)
        return got[0]

    def reload_and_wait(self, want):
        off = self.daemon.log_size()
        os.kill(self.daemon.pid, signal.SIGHUP)
        S.wait_until(lambda: want in self.daemon.log_text(off), 10, f"log: {want}",
                     self.daemon)


@pytest.fixture(scope="module")
def obs(tmp_path_factory):
    o = Obs(tmp_path_factory.mktemp("obs"))
    try:
        o.start()
        yield o
    finally:
        rc = o.daemon.stop() if getattr(o, "daemon", None) else 0
    assert rc == 0, f"regauthd-obs exited {rc} on SIGTERM"


def wait_for_counts(obs, before, want):
    """Scrape until every (name, labels) of `want` moved by its amount since `before`
    (the last request's metrics land just after its answer), then check all exactly."""
    deadline = time.monotonic() + 10
    while True:
        after = obs.scrape()
        delta = {k: after.get(k[0], **dict(k[1])) - before.get(k[0], **dict(k[1]))
                 for k in want}
        if all(delta[k] >= v for k, v in want.items()) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    bad = {f"{k[0]}{dict(k[1])}": (delta[k], v) for k, v in want.items() if delta[k] != v}
    assert not bad, f"counter deltas (got, want): {bad}"
    return after


def K(name, **labels):
    return (name, tuple(sorted(labels.items())))


# ---------------------------------------------------------------------------------------
# metrics


def test_metrics_move_by_exactly_what_was_done(obs):
    before = obs.scrape()
    assert before.families["regauth_http_requests_total"]["type"] == "counter"
    assert before.families["regauth_http_request_duration_seconds"]["type"] == "histogram"
    start = before.get("regauth_process_start_time_seconds")
    assert time.time() - 600 < start <= time.time() + 1

    full = ["repository:team-a/app:pull,push"]
    r = obs.token(full, extra=[("offline_token", "true"), ("client_id", "obs")])
    obs.verify(r, "GET", full)
    login_token = r.json()["refresh_token"]
    for _ in range(2):
        obs.verify(obs.token(full), "GET", full)
    mixed = ["repository:team-a/frozen:pull,push", "repository:team-b/x:pull"]
    claims = obs.verify(obs.token(mixed), "GET", mixed)          # 2 actions denied
    assert S.normalize_access(claims["access"]) == [
        {"type": "repository", "name": "team-a/frozen", "actions": ["pull"]}]
    for i in range(2):
        assert obs.token(full, password=f"wrong-{i}-{secrets.token_hex(4)}").status == 401
    obs.verify(obs.token(full, user="x", password=login_token), "GET", full)
    r = obs.post("/token", [("grant_type", "refresh_token"), ("refresh_token", login_token),
                            ("service", S.SERVICE), ("client_id", "obs"),
                            ("scope", "repository:team-b/y:push")])   # 1 denied
    obs.verify(r, "POST", ["repository:team-b/y:push"])
    assert obs.login_key(obs.assertion()).status == 200
    assert obs.login_key(obs.assertion(aud="someone-else")).status == 401
    anon = obs.token(["repository:team-a/app:pull"], anonymous=True)  # 1 denied
    obs.verify(anon, "GET", ["repository:team-a/app:pull"])
    assert obs.token(['repository:a"b:pull']).status == 400
    assert obs.request("GET", "/no/such/path").status == 404
    assert obs.request("POST", "/metrics", body=b"").status == 405
    assert obs.request("GET", "/healthz").status == 200

    after = wait_for_counts(obs, before, {
        K("regauth_http_requests_total", endpoint="/token", code="200"): 7,
        K("regauth_http_requests_total", endpoint="/token", code="401"): 2,
        K("regauth_http_requests_total", endpoint="/token", code="400"): 1,
        K("regauth_http_requests_total", endpoint="/v1/login", code="200"): 1,
        K("regauth_http_requests_total", endpoint="/v1/login", code="401"): 1,
        K("regauth_http_requests_total", endpoint="other", code="404"): 1,
        K("regauth_http_requests_total", endpoint="/metrics", code="405"): 1,
        K("regauth_http_requests_total", endpoint="/healthz", code="200"): 1,
        K("regauth_http_request_duration_seconds_count", endpoint="/token"): 10,
        K("regauth_http_request_duration_seconds_bucket", endpoint="/token", le="+Inf"): 10,
        K("regauth_http_request_duration_seconds_count", endpoint="/v1/login"): 2,
        K("regauth_tokens_issued_total"): 7,
        K("regauth_scope_actions_denied_total"): 4,
        K("regauth_logins_total", method="password", result="ok"): 4,
        K("regauth_logins_total", method="password", result="refused"): 2,
        K("regauth_logins_total", method="token", result="ok"): 2,
        K("regauth_logins_total", method="token", result="refused"): 0,
        K("regauth_logins_total", method="key", result="ok"): 1,
        K("regauth_logins_total", method="key", result="refused"): 1,
        K("regauth_logins_total", method="oidc", result="ok"): 0,
        K("regauth_config_reloads_total", result="ok"): 0,
        K("regauth_audit_write_errors_total"): 0,
    })
    s_before = before.get("regauth_http_request_duration_seconds_sum", endpoint="/token")
    s_after = after.get("regauth_http_request_duration_seconds_sum", endpoint="/token")
    assert 0 < s_after - s_before < 60
    # Every endpoint seen is a known path or "other": never the raw URL.
    eps = {dict(k)["endpoint"] for k in after.series("regauth_http_requests_total")}
    assert eps <= {"/token", "/v1/login", "/.well-known/jwks.json", "/v1/certs", "/v1/info",
                   "/healthz", "/metrics", "other"}, eps

    # The key ids are those of the JWKS; the one signing is marked active.
    jwks = obs.request("GET", "/.well-known/jwks.json").json()
    kids = {k["kid"] for k in jwks["keys"]}
    infos = after.series("regauth_signing_key_info")
    assert {dict(k)["kid"] for k in infos} == kids and set(infos.values()) == {1.0}
    active = [dict(k)["kid"] for k in infos if dict(k)["active"] == "true"]
    hdr = jwt.get_unverified_header(r.json()["access_token"])
    assert active == [hdr["kid"]]


def test_metrics_scrapes_count_themselves(obs):
    """A scrape is counted once answered: the next scrape sees every earlier one (the one
    just before it may still be landing, hence the poll)."""
    first = obs.scrape()
    n0 = first.get("regauth_http_requests_total", endpoint="/metrics", code="200")
    done = obs.scrapes
    for _ in range(3):
        obs.scrape()
    deadline = time.monotonic() + 10
    while True:
        earlier = obs.scrapes - done + 1      # `first` and every scrape since
        m = obs.scrape()
        seen = m.get("regauth_http_requests_total", endpoint="/metrics", code="200") - n0
        if seen >= earlier or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert seen == earlier, (seen, earlier)


def test_a_password_is_hashed_once_per_push(obs):
    """The verified-password cache: twenty token requests with one password (what one push
    asks) cost one yescrypt, a wrong password is hashed every time, and a reload forgets."""
    obs.reload_and_wait("configuration reloaded")   # a fresh snapshot: an empty cache
    before = obs.scrape().get("regauth_password_hashes_total")
    for _ in range(20):
        assert obs.token(["repository:team-a/app:pull"]).status == 200
    assert obs.scrape().get("regauth_password_hashes_total") - before == 1
    for _ in range(2):
        assert obs.token(["repository:team-a/app:pull"], password="wrong").status == 401
    assert obs.scrape().get("regauth_password_hashes_total") - before == 3


def test_reloads_are_counted(obs):
    before = obs.scrape()
    obs.reload_and_wait("configuration reloaded")
    bad = obs.dir / "policies" / "zz-broken.json"
    bad.write_text('{"Version": "2012-10-17", "Statement": [{"Effect": "allow"}]}')
    try:
        obs.reload_and_wait("zz-broken.json")
    finally:
        bad.unlink()
    obs.reload_and_wait("configuration reloaded")
    wait_for_counts(obs, before, {
        K("regauth_config_reloads_total", result="ok"): 2,
        K("regauth_config_reloads_total", result="error"): 1,
    })


# ---------------------------------------------------------------------------------------
# the audit log


def check_common(line, reply, principal, method):
    assert TIME_RE.fullmatch(line["time"]), line
    assert line["request_id"] == reply.headers["X-Request-Id"]
    assert line["client"] == "127.0.0.1"
    assert line["principal"] == principal
    assert line["auth_method"] == method
    assert line["status"] == reply.status


def test_audit_allowed_partial_denied_refused(obs):
    assert (obs.audit.stat().st_mode & 0o777) == 0o600

    r = obs.token(["repository:team-a/app:pull"])
    obs.verify(r, "GET", ["repository:team-a/app:pull"])
    a = obs.audit_of(r)
    check_common(a, r, "user/alice", "password")
    assert a["event"] == "token" and a["service"] == S.SERVICE
    assert a["scopes_asked"] == ["repository:team-a/app:pull"]
    assert a["scopes_granted"] == ["repository:team-a/app:pull"]
    assert a["decisions"] == [{"scope": "repository:team-a/app:pull", "decision": "Allow",
                               "statements": [DEV]}]
    assert a["result"] == "granted" and "error" not in a

    scopes = ["repository:team-a/frozen:pull,push"]
    r = obs.token(scopes)
    obs.verify(r, "GET", scopes)
    a = obs.audit_of(r)
    check_common(a, r, "user/alice", "password")
    assert a["scopes_asked"] == ["repository:team-a/frozen:pull,push"]
    assert a["scopes_granted"] == ["repository:team-a/frozen:pull"]
    assert a["decisions"] == [
        {"scope": "repository:team-a/frozen:pull", "decision": "Allow", "statements": [DEV]},
        {"scope": "repository:team-a/frozen:push", "decision": "Deny",
         "statements": [FROZEN]},
    ]
    assert a["result"] == "partial"

    r = obs.token(["repository:team-b/x:pull,push"])
    obs.verify(r, "GET", ["repository:team-b/x:pull,push"])
    a = obs.audit_of(r)
    assert a["scopes_granted"] == [] and a["result"] == "denied"
    assert [d["decision"] for d in a["decisions"]] == ["ImplicitDeny", "ImplicitDeny"]
    assert all(d["statements"] == [] for d in a["decisions"])

    r = obs.token(["repository:team-a/app:pull"], password="not-" + secrets.token_hex(6))
    assert r.status == 401
    a = obs.audit_of(r)
    check_common(a, r, None, "password")
    assert a["result"] == "refused" and a["error"] == "UNAUTHORIZED"
    assert a["scopes_granted"] == [] and a["decisions"] == []

    # A login token (Basic), a refresh grant, and a key login: their methods.
    r = obs.token([], extra=[("offline_token", "true")])
    lt = r.json()["refresh_token"]
    r = obs.token(["repository:team-a/app:push"], user="<token>", password=lt)
    obs.verify(r, "GET", ["repository:team-a/app:push"])
    check_common(obs.audit_of(r), r, "user/alice", "token")
    r = obs.post("/token", [("grant_type", "refresh_token"), ("refresh_token", lt),
                            ("service", S.SERVICE), ("client_id", "obs")])
    obs.verify(r, "POST", [])
    a = obs.audit_of(r)
    check_common(a, r, "user/alice", "token")
    assert a["result"] == "granted" and a["scopes_asked"] == []
    r = obs.login_key(obs.assertion())
    a = obs.audit_of(r)
    check_common(a, r, "serviceaccount/ci", "key")
    assert a["event"] == "login" and a["result"] == "granted"
    assert "scopes_asked" not in a
    r = obs.login_key("not.an.assertion")
    a = obs.audit_of(r)
    check_common(a, r, None, "key")
    assert a["event"] == "login" and a["result"] == "refused" and a["status"] == 401
    r = obs.post("/v1/login", [("grant_type", "password"), ("username", "alice"),
                               ("password", obs.password)])
    assert r.status == 200
    check_common(obs.audit_of(r), r, "user/alice", "password")

    # The same request id in the access log line.
    rid = r.headers["X-Request-Id"]
    S.wait_until(lambda: any(x.get("request_id") == rid for x in log_records(obs)), 10,
                 "the access log line", obs.daemon)
    # Every audit line is one JSON object with the common fields.
    for x in obs.audit_lines():
        assert {"time", "event", "request_id", "client", "principal", "auth_method",
                "result", "status"} <= set(x), x


def test_audit_hostile_scopes(obs):
    """Quotes, a newline that would start a forged line, backslashes and control bytes: one
    line, valid JSON, the value kept exactly."""
    nasty = ['repository:a"b:pull', 'repository:x:pull\n{"event":"forged"}',
             "repository:\\\\:push", "repository:\x01\x1f:pull"]
    lines_before = len(obs.audit.read_text().splitlines())
    r = obs.token(nasty)
    assert r.status == 400
    a = obs.audit_of(r)
    assert a["result"] == "refused" and a["error"] == "INVALID_SCOPE"
    assert a["scopes_asked"] == nasty
    lines = obs.audit.read_text().splitlines()
    assert len(lines) == lines_before + 1
    assert not any(json.loads(ln).get("event") == "forged" for ln in lines)


def test_audit_reopened_on_sigusr1(obs):
    rotated = obs.audit_dir / "audit.log.1"
    os.rename(obs.audit, rotated)
    r1 = obs.token(["repository:team-a/app:pull"])
    obs.verify(r1, "GET", ["repository:team-a/app:pull"])
    obs.audit_of(r1, rotated)             # still the renamed file until SIGUSR1
    assert not obs.audit.exists()
    os.kill(obs.daemon.pid, signal.SIGUSR1)
    S.wait_until(obs.audit.exists, 10, "the audit file to be created again", obs.daemon)
    assert (obs.audit.stat().st_mode & 0o777) == 0o600
    r2 = obs.token(["repository:team-a/app:push"])
    obs.verify(r2, "GET", ["repository:team-a/app:push"])
    assert obs.audit_of(r2)["scopes_granted"] == ["repository:team-a/app:push"]
    assert r2.headers["X-Request-Id"] not in rotated.read_text()
    assert len(obs.audit_lines()) == 1
    assert obs.daemon.poll() is None


def test_audit_destination_follows_reload(obs):
    other = obs.audit_dir / "other.log"
    obs.set_setting("audit_log", str(other))
    try:
        obs.reload_and_wait("configuration reloaded")
        r = obs.token(["repository:team-a/app:pull"])
        obs.verify(r, "GET", ["repository:team-a/app:pull"])
        obs.audit_of(r, other)
        assert r.headers["X-Request-Id"] not in obs.audit.read_text()
        # A relative path is refused, and the running configuration keeps auditing.
        obs.set_setting("audit_log", "relative/audit.log")
        obs.reload_and_wait("audit_log")
        r = obs.token(["repository:team-a/app:pull"])
        obs.verify(r, "GET", ["repository:team-a/app:pull"])
        obs.audit_of(r, other)
    finally:
        obs.set_setting("audit_log", str(obs.audit))
        obs.reload_and_wait("configuration reloaded")
    r = obs.token(["repository:team-a/app:pull"])
    obs.verify(r, "GET", ["repository:team-a/app:pull"])
    obs.audit_of(r)


def log_records(obs):
    out = []
    for ln in obs.daemon.log_text().splitlines():
        if ln.startswith("{"):
            out.append(json.loads(ln))
    return out


def test_no_secret_in_any_log(obs):
    # Enough traffic of every kind when this test runs alone.
    r = obs.token(["repository:team-a/app:pull"], extra=[("offline_token", "true")])
    obs.verify(r, "GET", ["repository:team-a/app:pull"])
    obs.token([], user="<token>", password=r.json()["refresh_token"])
    obs.token([], password="wrong-" + secrets.token_hex(8))
    obs.login_key(obs.assertion())
    obs.post("/token", [("grant_type", "password"), ("username", "alice"),
                        ("password", obs.password), ("service", S.SERVICE)])
    texts = {"regauthd log": obs.daemon.log_text()}
    for p in sorted(obs.audit_dir.iterdir()):
        texts[p.name] = p.read_text()
    assert texts.get("audit.log"), "no audit lines were written"
    secrets_used = {s for s in obs.secrets if s and len(s) >= 8}
    assert len(secrets_used) > 10, secrets_used
    leaks = [(name, s[:16] + "...") for name, text in texts.items()
             for s in secrets_used if s in text]
    assert not leaks, f"secrets in logs: {leaks}"
    # Every line of every audit file is JSON; every log line that looks like JSON is too.
    for name, text in texts.items():
        for ln in text.splitlines():
            if name != "regauthd log" or ln.startswith("{"):
                json.loads(ln)
