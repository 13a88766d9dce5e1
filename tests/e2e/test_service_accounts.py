"""Service accounts end to end: `regauthd sa create` / `sa key add|list|disable` in the
session's configuration directory (then SIGHUP), assertions minted here with PyJWT from the
key file (an implementation independent of the server's), POST /v1/login for a login
token, and that login token used where a password is: GET /token with Basic, the password
and refresh_token grants, and skopeo pushing to the real registry. Refusals: a replayed
assertion, another audience, bad times, a disabled key (new logins and login tokens already
issued), a password for a service account; key files are written once, 0600, and the
server's files hold no private key."""

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
import time
import urllib.parse

import jwt
import pytest

import support as S

FORM = "application/x-www-form-urlencoded"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
POLICY = "team-a-dev"  # pull+push team-a/*, no push to team-a/frozen (conftest)


pytestmark = pytest.mark.usefixtures("keeps_serving")


# ---------------------------------------------------------------------------------------
# helpers


reload_and_wait = S.reload_and_wait


def create_sa(regauthd, tmp_path, prefix="ci", policies=(POLICY,)):
    """A new service account with one key; returns (name, key file path, key file JSON)."""
    name = f"{prefix}{secrets.token_hex(3)}"
    key_out = tmp_path / f"{name}.key"
    args = ["sa", "create", "-c", regauthd.dir, name, "--key-out", key_out]
    for p in policies:
        args += ["--policy", p]
    res = regauthd.cli(*args)
    kf = json.loads(key_out.read_text())
    assert res.out.strip() == kf["key_id"], res.out
    reload_and_wait(regauthd)
    return name, key_out, kf


def assertion(kf, *, headers=None, **claims):
    """An ES256 assertion signed with the key file's private key (PyJWT). Claims given as
    None are left out."""
    now = int(time.time())
    body = {"iss": kf["principal"], "sub": kf["principal"], "aud": kf["issuer"],
            "iat": now, "exp": now + 60, "jti": secrets.token_hex(16)}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    hdr = {"kid": kf["key_id"]}
    hdr.update(headers or {})
    return jwt.encode(body, kf["private_key"], algorithm="ES256", headers=hdr)


def login(regauthd, assertion_jwt, grant=JWT_BEARER):
    body = urllib.parse.urlencode({"grant_type": grant, "assertion": assertion_jwt}).encode()
    return regauthd.request("POST", "/v1/login", headers={"Content-Type": FORM}, body=body)


def login_ok(regauthd, kf):
    """A login token for the key file, checked independently. Returns (token, claims)."""
    r = login(regauthd, assertion(kf))
    assert r.status == 200, r
    body = r.json()
    assert body["token_type"] == "Bearer"
    assert body["principal"] == kf["principal"]
    assert body["expires_in"] == 3600  # key_login_token_lifetime's default
    claims = regauthd.verifier.login_token(body["access_token"])
    assert claims["sub"] == kf["principal"]
    assert claims["key_id"] == kf["key_id"]
    assert claims["auth_method"] == "key"
    assert abs(claims["exp"] - claims["iat"] - 3600) <= 1
    return body["access_token"], claims


def assert_refused(reply):
    assert reply.status == 401, reply
    assert reply.json() == {"errors": [{"code": "UNAUTHORIZED",
                                        "message": "invalid assertion"}]}, reply


def log_reason(regauthd, since):
    return " ".join(r.get("msg", "") for r in regauthd.log_records(since))


def scope_get(regauthd, password, scopes, user="anything"):
    return regauthd.token_get([("service", regauthd.service)] + [("scope", s) for s in scopes],
                              user=user, password=password)


SCOPES = ["repository:team-a/sa-app:pull,push", "repository:team-b/app:pull"]


def assert_team_a_grant(regauthd, reply, method="GET", scopes=SCOPES):
    claims = regauthd.verify_reply(reply, method, scopes)
    assert S.normalize_access(claims["access"]) == [
        {"type": "repository", "name": "team-a/sa-app", "actions": ["pull", "push"]}]
    return claims


# ---------------------------------------------------------------------------------------
# the flow


def test_create_login_and_token(regauthd, tmp_path):
    name, key_out, kf = create_sa(regauthd, tmp_path)
    assert stat.S_IMODE(key_out.stat().st_mode) == 0o600
    assert kf["type"] == "regauth_service_account"
    assert kf["principal"] == f"serviceaccount/{name}"
    assert kf["issuer"] == regauthd.issuer
    assert kf["server"] == regauthd.realm[:-len("/token")]
    assert "-----BEGIN PRIVATE KEY-----" in kf["private_key"]
    # key_id is the RFC 7638 thumbprint of the key, computed here
    priv = S.serialization.load_pem_private_key(kf["private_key"].encode(), None)
    assert kf["key_id"] == S.jwk_thumbprint(priv.public_key())

    token, _ = login_ok(regauthd, kf)
    # GET /token with the login token as a Basic password (any user name)
    r = scope_get(regauthd, token, SCOPES)
    claims = assert_team_a_grant(regauthd, r)
    assert claims["sub"] == f"serviceaccount/{name}"
    r = scope_get(regauthd, token, SCOPES, user="<token>")
    assert_team_a_grant(regauthd, r)
    # POST /token: the password grant and the refresh_token grant
    scope = " ".join(SCOPES)
    r = regauthd.token_post([("grant_type", "password"), ("username", name),
                             ("password", token), ("service", regauthd.service),
                             ("scope", scope), ("client_id", "e2e")])
    assert_team_a_grant(regauthd, r, "POST", [scope])
    r = regauthd.token_post([("grant_type", "refresh_token"), ("refresh_token", token),
                             ("service", regauthd.service), ("scope", scope),
                             ("client_id", "e2e")])
    assert_team_a_grant(regauthd, r, "POST", [scope])
    # the log names the service account on the login
    recs = [x for x in regauthd.log_records() if x.get("path") == "/v1/login"
            and x.get("principal") == f"serviceaccount/{name}" and x.get("status") == 200]
    assert recs


def test_service_account_has_no_password(regauthd, tmp_path):
    name, _, kf = create_sa(regauthd, tmp_path)
    r = scope_get(regauthd, "not-a-token", SCOPES, user=name)
    assert r.status == 401, r
    r = scope_get(regauthd, kf["private_key"], SCOPES, user=name)
    assert r.status == 401, r
    body = urllib.parse.urlencode({"grant_type": "password", "username": name,
                                   "password": "whatever"}).encode()
    r = regauthd.request("POST", "/v1/login", headers={"Content-Type": FORM}, body=body)
    assert r.status == 401, r


# ---------------------------------------------------------------------------------------
# refused assertions


def test_replayed_assertion_refused(regauthd, tmp_path):
    _, _, kf = create_sa(regauthd, tmp_path)
    a = assertion(kf)
    assert login(regauthd, a).status == 200
    off = regauthd.daemon.log_size()
    assert_refused(login(regauthd, a))
    # the same jti in a fresh assertion
    jti = jwt.decode(a, options={"verify_signature": False})["jti"]
    assert_refused(login(regauthd, assertion(kf, jti=jti, exp=int(time.time()) + 90)))
    assert "replay" in log_reason(regauthd, off)
    # a reload forgets no jti
    reload_and_wait(regauthd)
    assert_refused(login(regauthd, a))


def test_other_audience_refused(regauthd, tmp_path):
    _, _, kf = create_sa(regauthd, tmp_path)
    off = regauthd.daemon.log_size()
    assert_refused(login(regauthd, assertion(kf, aud="another-server")))
    assert_refused(login(regauthd, assertion(kf, aud=S.LOGIN_AUD)))
    assert_refused(login(regauthd, assertion(kf, aud=None)))
    assert "aud" in log_reason(regauthd, off)
    # a list holding our issuer is fine
    assert login(regauthd, assertion(kf, aud=["x", kf["issuer"]])).status == 200


def test_bad_assertions_refused(regauthd, tmp_path):
    name, _, kf = create_sa(regauthd, tmp_path)
    now = int(time.time())
    bad = {
        "expired": assertion(kf, iat=now - 200, exp=now - 5),
        "exp too far ahead": assertion(kf, exp=now + 400),
        "exp - iat over 300": assertion(kf, iat=now - 100, exp=now + 250),
        "iat in the future": assertion(kf, iat=now + 120, exp=now + 180),
        "no iat": assertion(kf, iat=None),
        "no exp": assertion(kf, exp=None),
        "no jti": assertion(kf, jti=None),
        "jti too long": assertion(kf, jti="j" * 129),
        "iss != sub": assertion(kf, sub="serviceaccount/other"),
        "a user as iss": assertion(kf, iss="user/alice", sub="user/alice"),
        "unknown kid": assertion(kf, headers={"kid": "A" * 43}),
    }
    # HS256 with the public key as the HMAC secret (made by hand: PyJWT refuses to)
    pub_pem = S.serialization.load_pem_private_key(kf["private_key"].encode(), None) \
        .public_key().public_bytes(S.serialization.Encoding.PEM,
                                   S.serialization.PublicFormat.SubjectPublicKeyInfo)
    h = S.b64u(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kf["key_id"]}).encode())
    p = S.b64u(json.dumps({"iss": kf["principal"], "sub": kf["principal"],
                           "aud": kf["issuer"], "iat": now, "exp": now + 60,
                           "jti": secrets.token_hex(8)}).encode())
    sig = S.b64u(hmac.new(pub_pem, f"{h}.{p}".encode(), hashlib.sha256).digest())
    bad["HS256 confusion"] = f"{h}.{p}.{sig}"
    # alg none
    none = S.b64u(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    bad["alg none"] = f"{none}.{p}."
    # a flipped signature bit
    good = assertion(kf)
    head, _, s = good.rpartition(".")
    raw = bytearray(S.b64u_decode(s))
    raw[5] ^= 1
    bad["bad signature"] = f"{head}.{S.b64u(bytes(raw))}"
    for what, a in bad.items():
        r = login(regauthd, a)
        assert r.status == 401, f"{what}: {r}"
        assert_refused(r)
    # the grant with no assertion at all
    assert_refused(login(regauthd, ""))
    # the untouched one was never used, so it still works
    assert login(regauthd, good).status == 200


# ---------------------------------------------------------------------------------------
# keys


def test_disabled_key_revokes(regauthd, tmp_path):
    name, _, kf = create_sa(regauthd, tmp_path)
    token, _ = login_ok(regauthd, kf)
    assert_team_a_grant(regauthd, scope_get(regauthd, token, SCOPES))
    # a login token made from that login token (grant_type=password at /v1/login)
    body = urllib.parse.urlencode({"grant_type": "password", "username": "x",
                                   "password": token}).encode()
    r = regauthd.request("POST", "/v1/login", headers={"Content-Type": FORM}, body=body)
    assert r.status == 200, r
    derived = r.json()["access_token"]
    assert regauthd.verifier.login_token(derived)["key_id"] == kf["key_id"]

    regauthd.cli("sa", "key", "disable", "-c", regauthd.dir, name, kf["key_id"])
    listed = regauthd.cli("sa", "key", "list", "-c", regauthd.dir, name).out.split()
    assert listed[:2] == [kf["key_id"], "disabled"], listed
    reload_and_wait(regauthd)
    off = regauthd.daemon.log_size()
    assert_refused(login(regauthd, assertion(kf)))
    # the login tokens already issued fail at the next /token
    assert scope_get(regauthd, token, SCOPES).status == 401
    assert scope_get(regauthd, derived, SCOPES).status == 401
    r = regauthd.token_post([("grant_type", "refresh_token"), ("refresh_token", token),
                             ("service", regauthd.service), ("scope", SCOPES[0])])
    assert r.status == 401, r
    assert "disabled" in log_reason(regauthd, off)
    # deleted, it stays refused; the account's file keeps no trace of it
    regauthd.cli("sa", "key", "delete", "-c", regauthd.dir, name, kf["key_id"])
    reload_and_wait(regauthd)
    assert scope_get(regauthd, token, SCOPES).status == 401
    assert kf["key_id"] not in (regauthd.dir / "serviceaccounts" / f"{name}.json").read_text()
    res = regauthd.cli("sa", "key", "disable", "-c", regauthd.dir, name, kf["key_id"],
                       check=False)
    assert res.returncode == 1, res.err


def test_second_key(regauthd, tmp_path):
    name, _, kf = create_sa(regauthd, tmp_path)
    key2 = tmp_path / "second.key"
    res = regauthd.cli("sa", "key", "add", "-c", regauthd.dir, name, "--key-out", key2)
    kf2 = json.loads(key2.read_text())
    assert res.out.strip() == kf2["key_id"] != kf["key_id"]
    assert kf2["principal"] == kf["principal"]
    assert stat.S_IMODE(key2.stat().st_mode) == 0o600
    listed = json.loads(regauthd.cli("sa", "key", "list", "-c", regauthd.dir, name,
                                     "--json").out)
    assert [(k["key_id"], k["enabled"]) for k in listed] == \
        [(kf["key_id"], True), (kf2["key_id"], True)]
    reload_and_wait(regauthd)
    token2, _ = login_ok(regauthd, kf2)
    assert_team_a_grant(regauthd, scope_get(regauthd, token2, SCOPES))
    # disabling the first key leaves the second working
    regauthd.cli("sa", "key", "disable", "-c", regauthd.dir, name, kf["key_id"])
    reload_and_wait(regauthd)
    assert_refused(login(regauthd, assertion(kf)))
    assert_team_a_grant(regauthd, scope_get(regauthd, token2, SCOPES))
    login_ok(regauthd, kf2)
    # one key's kid over the other key's signature
    forged = jwt.encode({"iss": kf["principal"], "sub": kf["principal"], "aud": kf["issuer"],
                         "iat": int(time.time()), "exp": int(time.time()) + 60,
                         "jti": secrets.token_hex(8)}, kf["private_key"], algorithm="ES256",
                        headers={"kid": kf2["key_id"]})
    assert_refused(login(regauthd, forged))


def test_key_files_written_once_and_private_keys_stay_out(regauthd, tmp_path):
    name, key_out, kf = create_sa(regauthd, tmp_path)
    before = key_out.read_bytes()
    # --key-out onto an existing path: refused, the file untouched, no account made
    other = f"x{secrets.token_hex(3)}"
    res = regauthd.cli("sa", "create", "-c", regauthd.dir, other, "--key-out", key_out,
                       check=False)
    assert res.returncode == 1, res.err
    assert "exists" in res.err
    assert key_out.read_bytes() == before
    assert not (regauthd.dir / "serviceaccounts" / f"{other}.json").exists()
    res = regauthd.cli("sa", "key", "add", "-c", regauthd.dir, name, "--key-out", key_out,
                       check=False)
    assert res.returncode == 1, res.err
    assert key_out.read_bytes() == before
    # a folder that does not exist; a name that exists; usage
    res = regauthd.cli("sa", "key", "add", "-c", regauthd.dir, name, "--key-out",
                       tmp_path / "no-such-dir" / "k.key", check=False)
    assert res.returncode == 1, res.err
    res = regauthd.cli("sa", "create", "-c", regauthd.dir, name, "--key-out",
                       tmp_path / "again.key", check=False)
    assert res.returncode == 1 and not (tmp_path / "again.key").exists(), res.err
    res = regauthd.cli("sa", "create", "-c", regauthd.dir, "nokeyout", check=False)
    assert res.returncode == 2, res.err
    # the server's files: the account file is 0600 and no file holds this private key
    sa_file = regauthd.dir / "serviceaccounts" / f"{name}.json"
    assert stat.S_IMODE(sa_file.stat().st_mode) == 0o600
    assert "PRIVATE" not in sa_file.read_text()
    body = "".join(kf["private_key"].strip().splitlines()[1:-1])
    d_bytes = S.serialization.load_pem_private_key(kf["private_key"].encode(), None) \
        .private_numbers().private_value.to_bytes(32, "big")
    for root, _, files in os.walk(regauthd.dir):
        for f in files:
            data = (S.Path(root) / f).read_bytes()
            # PKCS#8 of P-256: 36 bytes (48 base64 characters) of prefix, then the scalar
            assert body[48:90].encode() not in data, f"{root}/{f} holds the private key"
            assert d_bytes not in data, f"{root}/{f} holds the private scalar"
            assert base64.b64encode(d_bytes)[:30] not in data


# ---------------------------------------------------------------------------------------
# a real client


def test_skopeo_push_with_login_token(regauthd, registry, token_proxy, oci_image, client_env,
                                      skopeo_bin, tmp_path):
    name, _, kf = create_sa(regauthd, tmp_path)
    token, _ = login_ok(regauthd, kf)
    n0 = token_proxy.count()
    dest = f"docker://{registry.host}/team-a/sa-app:skopeo"
    S.run([skopeo_bin, "copy", "--dest-tls-verify=false", "--dest-creds", f"{name}:{token}",
           oci_image["ref"], dest], env=client_env)
    gets = [r for r in token_proxy.records_since(n0)
            if r.method == "GET" and r.path == "/token" and r.status == 200]
    assert gets, "skopeo fetched no token from the realm"
    subs = {S.jwt.decode(r.response["token"], options={"verify_signature": False})["sub"]
            for r in gets}
    assert subs == {f"serviceaccount/{name}"}
    res = S.run([skopeo_bin, "inspect", "--tls-verify=false", "--creds", f"x:{token}", "--raw",
                 dest], env=client_env)
    assert json.loads(res.out)["layers"][0]["digest"] == oci_image["layer"]
    # pushing where the policy denies (team-a/frozen) is refused
    res = S.run([skopeo_bin, "copy", "--dest-tls-verify=false", "--dest-creds",
                 f"{name}:{token}", oci_image["ref"],
                 f"docker://{registry.host}/team-a/frozen:sa"], env=client_env, check=False)
    assert res.returncode != 0, res.out
