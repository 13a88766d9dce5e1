"""regauthd's HTTP interface, driven directly (http.client and raw sockets): the data-driven
token cases in cases/tokens/, refresh and login tokens, chunked bodies, forged and misused
tokens, oversized requests, and the key publication endpoints. Every 200 token answer is
verified independently; after every test the server must still answer /healthz."""

import base64
import copy
import datetime
import hashlib
import hmac
import json
import re
import secrets
import socket
import time
import urllib.parse
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

import support as S

CASES = sorted((Path(__file__).resolve().parent / "cases" / "tokens").glob("*.json"))
FORM = "application/x-www-form-urlencoded"


pytestmark = pytest.mark.usefixtures("keeps_serving")


def assert_error(reply, status):
    assert reply.status == status, reply
    if status in (414, 431):  # libmicrohttpd may answer these with its own body
        return
    assert reply.headers.get("Content-Type", "").startswith("application/json"), reply.headers
    body = reply.json()
    errs = body.get("errors")
    assert isinstance(errs, list) and errs, body
    for e in errs:
        assert isinstance(e.get("code"), str) and e["code"], body
        assert isinstance(e.get("message"), str), body
    if status == 401:
        challenge = reply.headers.get("WWW-Authenticate", "")
        assert re.match(r'Basic realm="[^"]*"', challenge), \
            f"401 without a Basic challenge: {challenge!r}"


def get_token(regauthd, scopes=(), user=None, password=None, extra=(), service=S.SERVICE):
    params = ([("service", service)] if service else []) + [("scope", s) for s in scopes]
    return regauthd.token_get(params + list(extra), user=user, password=password)


def granted(regauthd, reply, method, scopes, service=None):
    claims = regauthd.verify_reply(reply, method, list(scopes), service=service)
    return claims, S.normalize_access(claims["access"])


def repo(name, *actions):
    return {"type": "repository", "name": name, "actions": sorted(actions)}


# ---------------------------------------------------------------------------------------
# data-driven cases


def _subst(value, regauthd):
    def one(m):
        kind, arg = m.group(1), m.group(2)
        if kind == "password":
            return regauthd.users[arg]
        raise ValueError(f"unknown placeholder {m.group(0)}")
    return re.sub(r"\{(password):([a-z]+)\}", one, value)


@pytest.mark.parametrize("case_file", CASES, ids=[p.stem for p in CASES])
def test_token_case(regauthd, case_file):
    case = json.loads(case_file.read_text())
    req, exp = case["request"], case["expect"]
    method = req.get("method", "GET")
    if method == "GET":
        pairs = [(k, _subst(v, regauthd)) for k, v in req.get("params", [])]
        r = regauthd.token_get(pairs, user=req.get("user"), password=req.get("password"))
    else:
        pairs = [(k, _subst(v, regauthd)) for k, v in req.get("form", [])]
        r = regauthd.token_post(pairs, content_type=req.get("content_type", FORM))
    if exp["status"] != 200:
        assert_error(r, exp["status"])
        return
    scopes = [v for k, v in pairs if k == "scope"]
    service = dict(pairs).get("service")
    claims, access = granted(regauthd, r, method, scopes, service)
    assert access == S.normalize_access(exp["access"]), case["description"]
    assert claims["aud"] == (service or S.SERVICE)
    if "sub" in exp:
        assert claims["sub"] == exp["sub"]
    if "refresh_token" in exp:
        assert ("refresh_token" in r.json()) == exp["refresh_token"], sorted(r.json())
    if exp["sub"] == "" and not exp["access"]:
        assert claims["access"] == [], "anonymous must get an empty access list"


def test_cases_exist():
    assert len(CASES) >= 30, "the token case folder is missing"


# ---------------------------------------------------------------------------------------
# grants, login and refresh tokens


def test_get_answer_shape(regauthd):
    r = get_token(regauthd, ["repository:team-a/app:pull"], user="alice")
    claims, _ = granted(regauthd, r, "GET", ["repository:team-a/app:pull"])
    body = r.json()
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300, "default registry token lifetime is 300 s"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
                        body["issued_at"]), body["issued_at"]
    assert claims["nbf"] < claims["iat"], "nbf should be backdated"
    r2 = get_token(regauthd, ["repository:team-a/app:pull"], user="alice")
    c2, _ = granted(regauthd, r2, "GET", ["repository:team-a/app:pull"])
    assert c2["jti"] != claims["jti"], "jti must be unique"


def test_post_answer_scope_names_the_grant(regauthd):
    scope = "repository:team-a/app:pull,push repository:team-a/frozen:push"
    r = regauthd.token_post([("grant_type", "password"), ("username", "alice"),
                             ("password", regauthd.users["alice"]), ("service", S.SERVICE),
                             ("client_id", "e2e"), ("scope", scope)])
    _, access = granted(regauthd, r, "POST", [scope])
    assert access == [repo("team-a/app", "pull", "push")]
    said = S.normalize_access([{"type": t, "name": n, "actions": a} for t, n, a in
                               map(S.parse_scope, r.json()["scope"].split())])
    assert said == access, f"scope {r.json()['scope']!r} is not the granted set"


def test_offline_token_and_refresh_grant(regauthd):
    r = get_token(regauthd, [], user="alice", extra=[("offline_token", "true"),
                                                     ("client_id", "e2e")])
    granted(regauthd, r, "GET", [])
    rt = r.json()["refresh_token"]
    lc = regauthd.verifier.login_token(rt)
    assert lc["sub"] == "user/alice" and lc["aud"] == S.LOGIN_AUD and lc["token_use"] == "login"
    assert lc["exp"] - lc["iat"] == 12 * 3600, "a login token from a password lives 12 h"
    scope = "repository:team-a/app:pull,push"
    r2 = regauthd.token_post([("grant_type", "refresh_token"), ("refresh_token", rt),
                              ("service", S.SERVICE), ("client_id", "e2e"), ("scope", scope)])
    claims, access = granted(regauthd, r2, "POST", [scope])
    assert claims["sub"] == "user/alice"
    assert access == [repo("team-a/app", "pull", "push")]
    # a login token is accepted as a Basic password, whatever the username
    r3 = get_token(regauthd, ["repository:team-a/app:pull"], user="<token>", password=rt)
    c3, a3 = granted(regauthd, r3, "GET", ["repository:team-a/app:pull"])
    assert c3["sub"] == "user/alice" and a3 == [repo("team-a/app", "pull")]
    # and as the password of grant_type=password
    r4 = regauthd.token_post([("grant_type", "password"), ("username", "x"), ("password", rt),
                              ("service", S.SERVICE), ("client_id", "e2e"),
                              ("scope", "repository:team-a/app:pull")])
    c4, _ = granted(regauthd, r4, "POST", ["repository:team-a/app:pull"])
    assert c4["sub"] == "user/alice"


def test_access_type_offline_refresh_token(regauthd):
    r = regauthd.token_post([("grant_type", "password"), ("username", "bob"),
                             ("password", regauthd.users["bob"]), ("service", S.SERVICE),
                             ("client_id", "e2e"), ("access_type", "offline"),
                             ("scope", "repository:team-a/app:pull")])
    granted(regauthd, r, "POST", ["repository:team-a/app:pull"])
    assert regauthd.verifier.login_token(r.json()["refresh_token"])["sub"] == "user/bob"
    r2 = regauthd.token_post([("grant_type", "password"), ("username", "bob"),
                              ("password", regauthd.users["bob"]), ("service", S.SERVICE),
                              ("client_id", "e2e")])
    granted(regauthd, r2, "POST", [])
    assert "refresh_token" not in r2.json(), "online access must not return a refresh token"


def _dechunk(body):
    out = b""
    while True:
        line, _, body = body.partition(b"\r\n")
        n = int(line.split(b";")[0], 16)
        if n == 0:
            return out
        out += body[:n]
        body = body[n + 2:]


def _raw_json(head, body):
    if re.search(r"(?im)^transfer-encoding:\s*chunked", head):
        body = _dechunk(body)
    return json.loads(body)


def test_chunked_post_by_raw_socket(regauthd):
    """containers/image sends the form chunked, with no Content-Length."""
    rt = regauthd.login_token("alice")
    body = urllib.parse.urlencode([("grant_type", "refresh_token"), ("refresh_token", rt),
                                   ("client_id", "containers/image"), ("service", S.SERVICE),
                                   ("scope", "repository:team-a/app:pull,push"),
                                   ("scope", "repository:team-a/base:pull")]).encode()
    cut = [0, 7, 25, len(body) // 2, len(body) - 3, len(body)]  # splits inside fields
    chunks = [body[a:b] for a, b in zip(cut, cut[1:])]
    head = (f"POST /token HTTP/1.1\r\nHost: 127.0.0.1:{regauthd.port}\r\n"
            f"User-Agent: e2e-raw\r\nContent-Type: {FORM}\r\n"
            f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    parts = [head] + [b"%x\r\n%s\r\n" % (len(c), c) for c in chunks] + [b"0\r\n\r\n"]
    status, rhead, rbody = S.raw_exchange(regauthd.port, parts, chunk_sleep=0.02,
                                             source=regauthd.source)
    assert status == 200, (rhead, rbody[:500])
    obj = _raw_json(rhead, rbody)
    scopes = ["repository:team-a/app:pull,push", "repository:team-a/base:pull"]
    n, claims = regauthd.verifier.token_response(obj, method="POST", scopes=scopes)
    S.LEDGER.record(fetched=1, verified=n)
    assert claims["sub"] == "user/alice"
    assert S.normalize_access(claims["access"]) == [repo("team-a/app", "pull", "push"),
                                                    repo("team-a/base", "pull")]


def test_keep_alive_two_requests_one_connection(regauthd):
    """Two pipelined requests on one HTTP/1.1 connection, each answered in full."""
    q = urllib.parse.urlencode([("service", S.SERVICE), ("scope", "repository:team-a/app:pull")])
    auth = S.basic("bob", regauthd.users["bob"])
    req = f"GET /token?{q} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n".encode()
    last = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", regauthd.port), timeout=10,
                                 source_address=(regauthd.source, 0))
    data = b""
    try:
        s.sendall(req + last)
        while True:
            got = s.recv(65536)
            if not got:
                break
            data += got
    finally:
        s.close()
    assert data.count(b"HTTP/1.1 200") == 2, data[:300]
    first_head, _, rest = data.partition(b"\r\n\r\n")
    n = int(re.search(rb"(?im)^content-length:\s*(\d+)", first_head).group(1))
    obj = json.loads(rest[:n])
    count, claims = regauthd.verifier.token_response(
        obj, method="GET", scopes=["repository:team-a/app:pull"])
    S.LEDGER.record(fetched=1, verified=count)
    assert claims["sub"] == "user/bob"
    assert data.rstrip().endswith(b"ok"), data[-100:]


# ---------------------------------------------------------------------------------------
# refused credentials


@pytest.mark.parametrize("header", [
    "Basic !!!not-base64!!!",
    "Basic " + base64.b64encode(b"no-colon-here").decode(),
    "Basic ",
    "Basic " + base64.b64encode(b":").decode(),
], ids=["not-base64", "no-colon", "empty", "empty-user-and-password"])
def test_malformed_basic_header(regauthd, header):
    r = regauthd.token_get([("service", S.SERVICE), ("scope", "repository:team-a/app:pull")],
                           headers={"Authorization": header})
    assert_error(r, 401)


def test_wrong_password_and_unknown_user(regauthd):
    assert_error(get_token(regauthd, ["repository:team-a/app:pull"], user="fred",
                           password="wrong-" + regauthd.users["fred"]), 401)
    assert_error(get_token(regauthd, ["repository:team-a/app:pull"], user="zed",
                           password="whatever"), 401)
    # the wrong-password error does not tell which check failed
    a = get_token(regauthd, [], user="fred", password="nope").json()
    b = get_token(regauthd, [], user="zed", password="nope").json()
    assert a == b, f"unknown user and wrong password answer differently: {a} / {b}"


def test_password_with_colon_and_utf8(regauthd):
    pw = regauthd.users["gina"]
    assert ":" in pw
    r = get_token(regauthd, ["repository:team-a/app:pull"], user="gina", password=pw)
    claims, access = granted(regauthd, r, "GET", ["repository:team-a/app:pull"])
    assert claims["sub"] == "user/gina" and access == [repo("team-a/app", "pull")]
    r2 = regauthd.token_post([("grant_type", "password"), ("username", "gina"), ("password", pw),
                              ("service", S.SERVICE), ("client_id", "e2e")])
    granted(regauthd, r2, "POST", [])
    assert_error(get_token(regauthd, [], user="gina", password=pw.split(":")[0]), 401)


def test_runtime_user_add_and_removal_with_sighup(regauthd):
    """A user added while serving works after SIGHUP; once its file is removed and the
    server reloaded, its password and its login token are both refused."""
    name, pw = f"temp{secrets.token_hex(3)}", secrets.token_hex(12)
    regauthd.cli("user", "add", "-c", regauthd.dir, name, "--password-stdin",
                 "--policy", "readonly", input=(pw + "\n").encode())
    regauthd.reload()
    deadline = time.time() + 10
    while get_token(regauthd, [], user=name, password=pw).status != 200:
        assert time.time() < deadline, "the new user never worked after SIGHUP"
        time.sleep(0.1)
    r = get_token(regauthd, [], user=name, password=pw, extra=[("offline_token", "true")])
    granted(regauthd, r, "GET", [])
    rt = r.json()["refresh_token"]
    files = [f for f in (regauthd.dir / "users").iterdir() if f.stem == name]
    assert len(files) == 1, list((regauthd.dir / "users").iterdir())
    files[0].unlink()
    regauthd.reload()
    deadline = time.time() + 10
    while get_token(regauthd, [], user=name, password=pw).status != 401:
        assert time.time() < deadline, "the removed user still logs in after SIGHUP"
        time.sleep(0.1)
    r2 = regauthd.token_post([("grant_type", "refresh_token"), ("refresh_token", rt),
                              ("service", S.SERVICE), ("client_id", "e2e")])
    assert_error(r2, 401)
    assert_error(get_token(regauthd, [], user="<token>", password=rt), 401)
    assert regauthd.alive()


def test_registry_token_is_not_a_password(regauthd):
    r = get_token(regauthd, ["repository:team-a/app:pull"], user="alice")
    tok = r.json()["token"]
    granted(regauthd, r, "GET", ["repository:team-a/app:pull"])
    assert_error(get_token(regauthd, ["repository:team-a/app:pull"], user="<token>",
                           password=tok), 401)
    post = regauthd.token_post([("grant_type", "refresh_token"), ("refresh_token", tok),
                                ("service", S.SERVICE), ("client_id", "e2e"),
                                ("scope", "repository:team-a/app:pull")])
    assert_error(post, 401)


# --- forged login tokens: an independent signer with the server's own signing key


def _signing_key(regauthd, leaf):
    want = leaf.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    for f in sorted((regauthd.dir / "keys").rglob("*")):
        if not f.is_file():
            continue
        try:
            key = serialization.load_pem_private_key(f.read_bytes(), None)
        except Exception:  # noqa: BLE001 - certificates, bundles, other files
            continue
        got = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        if got == want:
            return key
    pytest.fail("no private key under keys/ matches the x5c signing certificate")


@pytest.fixture(scope="module")
def forge(regauthd):
    """forge(claims_changes, header_changes, key=None) -> a login token signed by us."""
    rt = regauthd.login_token("alice")
    header = jwt.get_unverified_header(rt)
    claims = jwt.decode(rt, options={"verify_signature": False})
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0]))
    key = _signing_key(regauthd, leaf)

    def make(claims_changes=None, header_changes=None, signer=None):
        c = copy.deepcopy(claims)
        for k, v in (claims_changes or {}).items():
            if v is None:
                c.pop(k, None)
            else:
                c[k] = v
        h = {k: v for k, v in header.items() if k != "alg"}
        for k, v in (header_changes or {}).items():
            if v is None:
                h.pop(k, None)
            else:
                h[k] = v
        return jwt.encode(c, signer or key, algorithm="ES256", headers=h)

    make.claims, make.header, make.leaf, make.key = claims, header, leaf, key
    return make


def _refused_everywhere(regauthd, token, what):
    """The token is refused as a Basic password, as a refresh_token and as the password of
    the password grant. Usernames are fresh: a per-user failure count never builds up."""
    nobody = f"forger-{secrets.token_hex(4)}"
    r1 = get_token(regauthd, ["repository:team-a/app:pull"], user=nobody, password=token)
    r2 = regauthd.token_post([("grant_type", "refresh_token"), ("refresh_token", token),
                              ("service", S.SERVICE), ("client_id", "e2e"),
                              ("scope", "repository:team-a/app:pull")])
    r3 = regauthd.token_post([("grant_type", "password"), ("username", nobody),
                              ("password", token), ("service", S.SERVICE),
                              ("client_id", "e2e"), ("scope", "repository:team-a/app:pull")])
    for r, via in ((r1, "Basic"), (r2, "refresh_token"), (r3, "password grant")):
        assert r.status == 401, f"{what} via {via}: {r}"
        assert_error(r, 401)


def test_forged_login_token_control(regauthd, forge):
    """The forger is right: the same claims re-signed by us are accepted. This makes the
    refusals below meaningful."""
    tok = forge()
    r = get_token(regauthd, ["repository:team-a/app:pull"], user="<token>", password=tok)
    claims, access = granted(regauthd, r, "GET", ["repository:team-a/app:pull"])
    assert claims["sub"] == "user/alice" and access == [repo("team-a/app", "pull")]
    r2 = regauthd.token_post([("grant_type", "refresh_token"), ("refresh_token", tok),
                              ("service", S.SERVICE), ("client_id", "e2e"),
                              ("scope", "repository:team-a/app:pull")])
    granted(regauthd, r2, "POST", ["repository:team-a/app:pull"])


def test_expired_login_token(regauthd, forge):
    now = int(time.time())
    _refused_everywhere(regauthd, forge({"exp": now - 3600, "iat": now - 7200,
                                         "nbf": now - 7200}), "expired")


def test_login_token_missing_exp(regauthd, forge):
    _refused_everywhere(regauthd, forge({"exp": None}), "no exp")


def test_login_token_not_yet_valid(regauthd, forge):
    now = int(time.time())
    _refused_everywhere(regauthd, forge({"nbf": now + 3600, "iat": now + 3600,
                                         "exp": now + 7200}), "nbf in the future")


@pytest.mark.parametrize("aud", [S.SERVICE, "other", [S.LOGIN_AUD + "x"]])
def test_login_token_wrong_audience(regauthd, forge, aud):
    _refused_everywhere(regauthd, forge({"aud": aud}), f"aud={aud!r}")


def test_login_token_wrong_issuer(regauthd, forge):
    _refused_everywhere(regauthd, forge({"iss": "evil"}), "iss=evil")


def test_login_token_wrong_token_use(regauthd, forge):
    _refused_everywhere(regauthd, forge({"token_use": "access"}), "token_use=access")


def test_login_token_unknown_principal(regauthd, forge):
    _refused_everywhere(regauthd, forge({"sub": "user/no-such-user"}), "unknown principal")


def test_login_token_other_key_same_kid(regauthd, forge):
    other = ec.generate_private_key(ec.SECP256R1())
    _refused_everywhere(regauthd, forge(signer=other), "other key, same kid and x5c")


def test_login_token_other_key_own_self_signed_x5c(regauthd, forge):
    other = ec.generate_private_key(ec.SECP256R1())
    name = forge.leaf.issuer  # a look-alike of the CA
    now = time.time()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(other.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(datetime.datetime.utcfromtimestamp(now - 600))
            .not_valid_after(datetime.datetime.utcfromtimestamp(now + 86400))
            .sign(other, hashes.SHA256()))
    x5c = [base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()]
    tok = forge(header_changes={"x5c": x5c, "kid": S.jwk_thumbprint(other.public_key())},
                signer=other)
    _refused_everywhere(regauthd, tok, "self-signed x5c")
    tok2 = forge(header_changes={"x5c": None, "kid": S.jwk_thumbprint(other.public_key())},
                 signer=other)
    _refused_everywhere(regauthd, tok2, "unknown kid, no x5c")


def _unsigned(header, claims, alg_sig):
    h = S.b64u(json.dumps(header, separators=(",", ":")).encode())
    c = S.b64u(json.dumps(claims, separators=(",", ":")).encode())
    return f"{h}.{c}." + alg_sig(f"{h}.{c}".encode())


def test_login_token_alg_none(regauthd, forge):
    for alg in ("none", "None", "NONE"):
        h = dict(forge.header, alg=alg)
        _refused_everywhere(regauthd, _unsigned(h, forge.claims, lambda _: ""), f"alg={alg}")


@pytest.mark.parametrize("secret", ["public-key-pem", "cert-pem", "bundle-pem"])
def test_login_token_hs256_with_public_material(regauthd, forge, secret):
    pub = forge.leaf.public_key()
    material = {
        "public-key-pem": pub.public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo),
        "cert-pem": forge.leaf.public_bytes(serialization.Encoding.PEM),
        "bundle-pem": regauthd.bundle_pem,
    }[secret]
    h = dict(forge.header, alg="HS256")
    tok = _unsigned(h, forge.claims,
                    lambda si: S.b64u(hmac.new(material, si, hashlib.sha256).digest()))
    _refused_everywhere(regauthd, tok, f"HS256 keyed with {secret}")


def test_login_token_tampered_payload(regauthd, forge):
    tok = forge()
    h, c, s = tok.split(".")
    claims = dict(forge.claims, sub="user/carol")
    c2 = S.b64u(json.dumps(claims, separators=(",", ":")).encode())
    _refused_everywhere(regauthd, f"{h}.{c2}.{s}", "payload swapped under a valid signature")


def test_login_token_der_signature(regauthd, forge):
    """JOSE wants raw R||S; a DER-encoded ECDSA signature must not verify."""
    tok = forge()
    h, c, _ = tok.split(".")
    der = forge.key.sign(f"{h}.{c}".encode(), ec.ECDSA(hashes.SHA256()))
    _refused_everywhere(regauthd, f"{h}.{c}.{S.b64u(der)}", "DER signature")


@pytest.mark.parametrize("junk", ["a.b.c", "....", "x" * 5000, "e30.e30.", "%00"])
def test_garbage_login_tokens(regauthd, junk):
    _refused_everywhere(regauthd, junk, f"junk {junk[:20]!r}")


# ---------------------------------------------------------------------------------------
# the registry refuses what is not a registry token


def test_registry_refuses_login_token(regauthd, registry):
    rt = regauthd.login_token("alice")
    off = registry.log_size()
    r = registry.request("GET", "/v2/team-a/app/tags/list",
                         headers={"Authorization": f"Bearer {rt}"})
    assert r.status == 401, r
    assert 'error="invalid_token"' in r.headers.get("WWW-Authenticate", ""), r.headers
    assert "another audience" in registry.log_since(off)
    # control: a registry token for the same scope passes
    t = get_token(regauthd, ["repository:team-a/app:pull"], user="alice")
    granted(regauthd, t, "GET", ["repository:team-a/app:pull"])
    ok = registry.request("GET", "/v2/team-a/app/tags/list",
                          headers={"Authorization": f"Bearer {t.json()['token']}"})
    assert ok.status in (200, 404), ok
    if ok.status == 404:
        assert ok.json()["errors"][0]["code"] == "NAME_UNKNOWN"


def test_registry_catalog_with_admin_token(regauthd, registry):
    for user, want in (("carol", 200), ("alice", 401)):
        t = get_token(regauthd, ["registry:catalog:*"], user=user)
        granted(regauthd, t, "GET", ["registry:catalog:*"])
        r = registry.request("GET", "/v2/_catalog",
                             headers={"Authorization": f"Bearer {t.json()['token']}"})
        assert r.status == want, (user, r)


# ---------------------------------------------------------------------------------------
# oversized and malformed requests


def test_ten_thousand_scopes_get(regauthd):
    q = urllib.parse.urlencode([("service", S.SERVICE)] +
                               [("scope", f"repository:team-a/r{i}:pull") for i in range(10000)])
    req = (f"GET /token?{q} HTTP/1.1\r\nHost: x\r\n"
           f"Authorization: {S.basic('alice', regauthd.users['alice'])}\r\n"
           f"Connection: close\r\n\r\n").encode()
    status, head, body = S.raw_exchange(regauthd.port, req, source=regauthd.source)
    assert status in (400, 414, 431), (status, head, body[:300])


def test_ten_thousand_scopes_post(regauthd):
    scope = " ".join(f"repository:team-a/r{i}:pull" for i in range(10000))
    r = regauthd.token_post([("grant_type", "password"), ("username", "alice"),
                             ("password", regauthd.users["alice"]), ("service", S.SERVICE),
                             ("client_id", "e2e"), ("scope", scope)])
    assert r.status in (400, 413), r
    assert_error(r, r.status)


def test_one_mib_query_string(regauthd):
    req = (f"GET /token?service={S.SERVICE}&pad={'a' * (1 << 20)} HTTP/1.1\r\nHost: x\r\n"
           f"Connection: close\r\n\r\n").encode()
    status, head, body = S.raw_exchange(regauthd.port, req, source=regauthd.source)
    assert status in (414, 431), (status, head, body[:300])


def test_one_mib_header(regauthd):
    req = (f"GET /token?service={S.SERVICE} HTTP/1.1\r\nHost: x\r\n"
           f"X-Pad: {'a' * (1 << 20)}\r\nConnection: close\r\n\r\n").encode()
    status, head, body = S.raw_exchange(regauthd.port, req, source=regauthd.source)
    assert status in (413, 414, 431), (status, head, body[:300])


def test_one_mib_post_body(regauthd):
    body = urllib.parse.urlencode([("grant_type", "password"), ("username", "alice"),
                                   ("password", regauthd.users["alice"]),
                                   ("service", S.SERVICE), ("client_id", "e2e"),
                                   ("pad", "a" * (1 << 20))]).encode()
    head = (f"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    status, rhead, rbody = S.raw_exchange(regauthd.port, [head, body], source=regauthd.source)
    assert status == 413, (status, rhead, rbody[:300])


def test_one_mib_chunked_post_body(regauthd):
    body = b"grant_type=password&pad=" + b"a" * (1 << 20)
    head = (f"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
            f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    parts = [head] + [b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536])
                      for i in range(0, len(body), 65536)] + [b"0\r\n\r\n"]
    status, rhead, rbody = S.raw_exchange(regauthd.port, parts, source=regauthd.source)
    assert status == 413, (status, rhead, rbody[:300])


def test_post_wrong_content_type(regauthd):
    r = regauthd.token_post([("grant_type", "password"), ("username", "alice"),
                             ("password", regauthd.users["alice"]), ("service", S.SERVICE),
                             ("client_id", "e2e")], content_type="application/json")
    assert r.status in (400, 415), r
    assert_error(r, r.status)


def test_unknown_path_and_method(regauthd):
    r = regauthd.request("GET", "/no/such/path")
    assert r.status == 404, r
    r = regauthd.request("DELETE", "/token")
    assert r.status in (404, 405), r


def test_bad_offline_token_value_is_not_an_error(regauthd):
    r = get_token(regauthd, ["repository:team-a/app:pull"], user="alice",
                  extra=[("offline_token", "false")])
    granted(regauthd, r, "GET", ["repository:team-a/app:pull"])
    assert "refresh_token" not in r.json()


def test_log_lines_have_fields_and_no_secrets(regauthd):
    off = regauthd.daemon.log_size()
    rt = regauthd.login_token("alice")
    get_token(regauthd, ["repository:team-a/app:pull"], user="alice")
    get_token(regauthd, [], user="fred", password="secret-wrong-pw-xyz")
    deadline = time.time() + 5
    # The request line is written once the answer is sent: wait for all three.
    while time.time() < deadline and sum(
            r.get("path") == "/token" for r in regauthd.log_records(off)) < 3:
        time.sleep(0.05)
    recs = regauthd.log_records(off)
    token_recs = [r for r in recs if r.get("path") == "/token"]
    assert len(token_recs) >= 3, recs
    for r in token_recs:
        for k in ("time", "method", "path", "status", "client", "ms"):
            assert k in r, f"log line lacks {k!r}: {r}"
        assert "?" not in r["path"]
        assert r["client"] == regauthd.source, f"client is not the peer address: {r}"
    assert any(r.get("principal") == "user/alice" and r.get("status") == 200
               for r in token_recs), token_recs
    text = regauthd.daemon.log_text(off)
    for secret in (regauthd.users["alice"], "secret-wrong-pw-xyz", rt, rt.split(".")[2]):
        assert secret not in text, "a secret reached the log"


def test_log_stays_json_lines_under_refusals(regauthd):
    """The log is one JSON object per line, also when oversized requests are refused."""
    off = regauthd.daemon.log_size()
    S.raw_exchange(regauthd.port, f"GET /token?pad={'a' * (1 << 20)} HTTP/1.1\r\nHost: x\r\n"
                   f"Connection: close\r\n\r\n".encode(), source=regauthd.source)
    S.raw_exchange(regauthd.port, b"GARBAGE\r\n\r\n", source=regauthd.source)
    get_token(regauthd, ["repository:team-a/app:pull"], user="bob")
    time.sleep(0.2)
    bad = [line for line in regauthd.daemon.log_text(off).splitlines()
           if line.strip() and not _is_json_object(line)]
    assert not bad, f"non-JSON lines on regauthd's log: {bad}"


def _is_json_object(line):
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------
# key publication


def test_jwks_verifies_tokens(regauthd):
    r = get_token(regauthd, ["repository:team-a/app:pull"], user="alice")
    granted(regauthd, r, "GET", ["repository:team-a/app:pull"])
    tok = r.json()["token"]
    kid = jwt.get_unverified_header(tok)["kid"]
    jwks = regauthd.request("GET", "/.well-known/jwks.json")
    assert jwks.status == 200, jwks
    keys = jwks.json()["keys"]
    assert all("d" not in k for k in keys), "private material in the JWKS"
    mine = [k for k in keys if k.get("kid") == kid]
    assert len(mine) == 1, f"kid {kid} not (uniquely) in JWKS {[k.get('kid') for k in keys]}"
    pub = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(mine[0]))
    assert S.jwk_thumbprint(pub) == kid
    claims = jwt.decode(tok, pub, algorithms=["ES256"], audience=S.SERVICE, issuer=S.ISSUER)
    assert claims["sub"] == "user/alice"
    rt = regauthd.login_token("alice")
    jwt.decode(rt, [jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(k)) for k in mine][0],
               algorithms=["ES256"], audience=S.LOGIN_AUD)


def test_certs_equal_bundle(regauthd):
    r = regauthd.request("GET", "/v1/certs")
    assert r.status == 200, r
    served = [c.public_bytes(serialization.Encoding.DER) for c in S.load_pem_certs(r.body)]
    on_disk = [c.public_bytes(serialization.Encoding.DER)
               for c in S.load_pem_certs(regauthd.bundle_pem)]
    assert served and served == on_disk
    ca = S.load_pem_certs(regauthd.bundle_pem)[0]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_info(regauthd):
    r = regauthd.request("GET", "/v1/info")
    assert r.status == 200, r
    info = r.json()
    assert info["issuer"] == S.ISSUER
    assert info["services"] == [S.SERVICE]
    assert isinstance(info["account"], str)
    assert isinstance(info["version"], str) and info["version"]


def test_second_instance_serves_same_keys_and_exits_zero_on_sigterm(regauthd, tmp_path):
    """Replicas share the directory: a second server issues tokens the same CA vouches for;
    SIGTERM makes it exit 0."""
    port = S.free_port()
    d = S.Daemon("regauthd-2", [regauthd.bin, "serve", "-c", regauthd.dir, "--listen",
                                f"127.0.0.1:{port}"], tmp_path / "second.log")
    try:
        S.wait_until(lambda: S.http_request(port, "GET", "/healthz", timeout=5).status == 200,
                     20, "second regauthd", d)
        q = urllib.parse.urlencode([("service", S.SERVICE),
                                    ("scope", "repository:team-a/app:pull")])
        r = S.http_request(port, "GET", f"/token?{q}",
                           headers={"Authorization": S.basic("bob", regauthd.users["bob"])})
        claims, access = granted(regauthd, r, "GET", ["repository:team-a/app:pull"])
        assert claims["sub"] == "user/bob" and access == [repo("team-a/app", "pull")]
    finally:
        rc = d.stop()
    assert rc == 0, f"SIGTERM: exit status {rc}\n{d.log_tail()}"


def test_healthz(regauthd):
    r = regauthd.request("GET", "/healthz")
    assert r.status == 200 and r.body.strip() == b"ok"


def test_bad_configuration_on_reload_keeps_the_old_one(regauthd):
    """A policy file that does not load is reported (naming the file) and the running
    configuration keeps serving; fixing it and reloading again works."""
    bad = regauthd.dir / "policies" / "zz-broken.json"
    off = regauthd.daemon.log_size()
    bad.write_text('{"Version": "2012-10-17", "Statement": [{"Effect": "allow", '
                   '"Action": "registry:Pull", "Resource": "*"}]}')
    try:
        regauthd.reload()
        deadline = time.time() + 10
        while "zz-broken.json" not in regauthd.daemon.log_text(off):
            assert time.time() < deadline, "the broken file was never reported"
            time.sleep(0.05)
        errs = [r for r in regauthd.log_records(off) if r.get("level") == "error"]
        assert errs and "zz-broken.json" in errs[0]["msg"], errs
        r = get_token(regauthd, ["repository:team-a/app:pull,push"], user="alice")
        claims, access = granted(regauthd, r, "GET", ["repository:team-a/app:pull,push"])
        assert access == [repo("team-a/app", "pull", "push")]
    finally:
        bad.unlink()
        off = regauthd.daemon.log_size()
        regauthd.reload()
    deadline = time.time() + 10
    while "configuration reloaded" not in regauthd.daemon.log_text(off):
        assert time.time() < deadline, "the fixed configuration was never reloaded"
        time.sleep(0.05)
    assert regauthd.alive()


def test_policy_variables_and_conditions_see_the_request(regauthd):
    """Policies with ${aws:username} and a Condition are decided with the request context
    (the server builds it only for such policies)."""
    name, pw = f"var{secrets.token_hex(3)}", secrets.token_hex(12)
    pol = regauthd.dir / "policies" / f"{name}.json"
    pol.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["registry:Pull", "registry:Push"],
         "Resource": "repository/home/${aws:username}/*"},
        {"Effect": "Allow", "Action": "registry:Pull", "Resource": "repository/ci/*",
         "Condition": {"StringEquals": {"regauth:ClientId": "trusted-ci"}}},
        {"Effect": "Deny", "Action": "registry:Pull", "Resource": "repository/ci/*",
         "Condition": {"StringEquals": {"regauth:Repository": "ci/secret"}}}]}))
    regauthd.cli("user", "add", "-c", regauthd.dir, name, "--password-stdin",
                 "--policy", name, input=(pw + "\n").encode())
    regauthd.reload()
    deadline = time.time() + 10
    while get_token(regauthd, [], user=name, password=pw).status != 200:
        assert time.time() < deadline, "the new user never worked after SIGHUP"
        time.sleep(0.1)
    own, other = f"repository:home/{name}/app:pull,push", "repository:home/alice/app:pull,push"
    r = get_token(regauthd, [own, other], user=name, password=pw)
    _, access = granted(regauthd, r, "GET", [own, other])
    assert access == [repo(f"home/{name}/app", "pull", "push")], access
    scopes = ["repository:ci/tools:pull", "repository:ci/secret:pull"]
    r = get_token(regauthd, scopes, user=name, password=pw, extra=[("client_id", "trusted-ci")])
    _, access = granted(regauthd, r, "GET", scopes)
    assert access == [repo("ci/tools", "pull")], access
    r = get_token(regauthd, scopes, user=name, password=pw, extra=[("client_id", "other")])
    _, access = granted(regauthd, r, "GET", scopes)
    assert access == [], access
