"""Keyless CI (issue 5): OIDC federation and roles, server side, end to end.

Local OIDC issuers (oidc_issuer.py: a real HTTP server, keys made and tokens signed by hand)
are registered with `regauthd oidc add` (one fetched over HTTP, one air-gapped with
--jwks-file), roles with `regauthd role add` and IAM trust documents, then SIGHUP. A CI token
is exchanged at POST /v1/login (RFC 8693 token exchange) for a login token of
assumed-role/ROLE/SESSION, which is used where a password is: GET /token with Basic, the
refresh_token grant, and skopeo pushing to the real registry (through the token-verifying
proxy). Refusals: tokens that are bad (401) or that the trust policy refuses (403), malformed
requests (400); the server keeps serving and never logs a token. Registry tokens are checked
against the CA bundle (support.TokenVerifier) and, independently, against the server's own
/.well-known/jwks.json.
"""

import json
import re
import secrets
import time
import urllib.parse

import jwt
import pytest

import support as S
from oidc_issuer import OidcIssuer

FORM = "application/x-www-form-urlencoded"
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TYPE = "urn:ietf:params:oauth:token-type:access_token"
AUD = "regauth"
LOGIN_LIFETIME = 3600  # key_login_token_lifetime's default: a login token from an OIDC token
SFX = secrets.token_hex(3)  # the session's configuration directory is shared by all modules

# Every OIDC token minted and every login/registry token received here: none may appear in
# regauthd's log (test_no_token_in_the_log, last in this file).
SEEN = []


pytestmark = pytest.mark.usefixtures("keeps_serving")


# ---------------------------------------------------------------------------------------
# helpers


reload_and_wait = S.reload_and_wait


def issuer_file_name(url):
    """The default name `oidc add` derives: the URL without scheme, other chars '-'."""
    rest = url.split("://", 1)[1]
    return re.sub(r"[^A-Za-z0-9.]", "-", rest)[:64]


def add_issuer(regauthd, url, audiences=(AUD,), jwks_file=None, name=None, check=True):
    args = ["oidc", "add", "-c", regauthd.dir, url]
    for a in audiences:
        args += ["--audience", a]
    if jwks_file is not None:
        args += ["--jwks-file", jwks_file]
    if name is not None:
        args += ["--name", name]
    return regauthd.cli(*args, check=check)


def trust(issuer_url, equals=None, like=None):
    cond = {}
    if equals:
        cond["StringEquals"] = equals
    if like:
        cond["StringLike"] = like
    st = {"Effect": "Allow", "Principal": {"Federated": issuer_url},
          "Action": "sts:AssumeRoleWithWebIdentity"}
    if cond:
        st["Condition"] = cond
    return {"Version": "2012-10-17", "Statement": [st]}


def write_policy(regauthd, name, statements):
    doc = {"Version": "2012-10-17", "Statement": statements}
    (regauthd.dir / "policies" / f"{name}.json").write_text(json.dumps(doc))
    return name


def allow_push(resource):
    return {"Effect": "Allow", "Action": ["registry:Pull", "registry:Push"], "Resource": resource}


def add_role(regauthd, tmp, name, trust_doc, policies=(), max_session=None, check=True):
    tf = tmp / f"trust-{name}.json"
    tf.write_text(json.dumps(trust_doc))
    args = ["role", "add", "-c", regauthd.dir, name, "--trust", tf]
    for p in policies:
        args += ["--policy", p]
    if max_session is not None:
        args += ["--max-session", max_session]
    return regauthd.cli(*args, check=check)


def exchange(regauthd, token, role, session=None, token_type=JWT_TYPE, grant=EXCHANGE,
             extra=()):
    """POST /v1/login, the token-exchange grant; None leaves a field out."""
    form = [("grant_type", grant)]
    if token is not None:
        form.append(("subject_token", token))
    if token_type is not None:
        form.append(("subject_token_type", token_type))
    if role is not None:
        form.append(("role", role))
    if session is not None:
        form.append(("session", session))
    form += list(extra)
    body = urllib.parse.urlencode(form).encode()
    return regauthd.request("POST", "/v1/login", headers={"Content-Type": FORM}, body=body)


def derived_session(sub):
    return re.sub(r"[^A-Za-z0-9+=,.@-]", "-", sub)[:64]


def session_ok(regauthd, token, role, session=None, want_session=None,
               expires=LOGIN_LIFETIME):
    """Exchange token for role; check the answer and the login token independently.
    Returns (login token, its claims, the answer)."""
    SEEN.append(token)
    r = exchange(regauthd, token, role, session=session)
    assert r.status == 200, f"exchange for role {role}: {r}"
    body = r.json()
    if want_session is None:
        want_session = session or derived_session(
            jwt.decode(token, options={"verify_signature": False})["sub"])
    principal = f"assumed-role/{role}/{want_session}"
    assert body.get("token_type") == "Bearer", body
    assert body.get("principal") == principal, body
    assert body.get("issued_token_type") == ACCESS_TYPE, body
    assert body.get("expires_in") == expires, body
    SEEN.append(body["access_token"])
    claims = regauthd.verifier.login_token(body["access_token"])
    assert claims["sub"] == principal, claims
    assert abs(claims["exp"] - claims["iat"] - expires) <= 1, claims
    assert abs(claims["iat"] - time.time()) < 30, claims
    return body["access_token"], claims, body


def assert_error(reply, status, what=""):
    assert reply.status == status, f"{what}: want {status}, got {reply}"
    try:
        body = reply.json()
    except ValueError:
        pytest.fail(f"{what}: refusal {reply.status} is not JSON: {reply.text[:200]!r}")
    errs = body.get("errors") if isinstance(body, dict) else None
    assert isinstance(errs, list) and errs, f"{what}: no errors list: {body}"
    assert isinstance(errs[0].get("code"), str) and errs[0]["code"], f"{what}: {body}"
    assert isinstance(errs[0].get("message"), str) and errs[0]["message"], f"{what}: {body}"
    return errs[0]


def jwks_verify(regauthd, token):
    """Verify a registry token against the server's JWKS, fetched over HTTP (not the
    bundle): kid lookup, ES256, aud = service, iss = issuer."""
    r = regauthd.request("GET", "/.well-known/jwks.json")
    assert r.status == 200, r
    keys = {k.get("kid"): k for k in r.json()["keys"]}
    kid = jwt.get_unverified_header(token).get("kid")
    assert kid in keys, f"registry token kid {kid!r} is not in /.well-known/jwks.json"
    pub = jwt.PyJWK(keys[kid], algorithm="ES256").key
    return jwt.decode(token, pub, algorithms=["ES256"], audience=regauthd.service,
                      issuer=regauthd.issuer, options={"require": ["exp", "iat", "sub"]})


def registry_token(regauthd, login_token, scopes, user="regauth"):
    """GET /token with the login token as a Basic password; verified against the bundle and
    the JWKS. Returns (registry token, claims, access normalized)."""
    r = regauthd.token_get([("service", regauthd.service)] + [("scope", s) for s in scopes],
                           user=user, password=login_token)
    claims = regauthd.verify_reply(r, "GET", list(scopes))
    tok = r.json()["token"]
    SEEN.append(tok)
    assert jwks_verify(regauthd, tok) == claims
    return tok, claims, S.normalize_access(claims["access"])


def login_log_records(regauthd, off, n):
    """The access-log lines of /v1/login since off, once n of them are written (the line
    may follow the answer by a moment)."""
    def recs():
        return [x for x in regauthd.log_records(off) if x.get("path") == "/v1/login"]
    S.wait_until(lambda: len(recs()) >= n, 5, f"{n} /v1/login log lines")
    return recs()


def repo(name, *actions):
    return {"type": "repository", "name": name, "actions": sorted(actions)}


def skopeo_push(skopeo_bin, env, image, registry, path, creds, check=True):
    return S.run([skopeo_bin, "copy", "--dest-tls-verify=false", "--dest-creds", creds,
                  image["ref"], f"docker://{registry.host}/{path}"], env=env, check=check,
                 timeout=120)


def registry_get_manifest(registry, path, tag, bearer):
    return registry.request("GET", f"/v2/{path}/manifests/{tag}",
                            headers={"Authorization": f"Bearer {bearer}",
                                     "Accept": "application/vnd.oci.image.manifest.v1+json"})


# ---------------------------------------------------------------------------------------
# the federation set up once for this module


class Fed:
    pass


@pytest.fixture(scope="module")
def fed(regauthd, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("oidc")
    f = Fed()
    f.tmp = tmp
    f.gh = OidcIssuer(path="/gh")          # fetched over HTTP (discovery + jwks_uri)
    f.lone = OidcIssuer(path="/lone")      # registered, trusted by no role
    f.stranger = OidcIssuer(path="/gh")    # never registered
    try:
        add_issuer(regauthd, f.gh.url)
        add_issuer(regauthd, f.lone.url)
        kp = f.gh.key_prefix
        f.roles = {}
        # (a) acme/app on main: push oidc/app/*
        f.app = f"app-{SFX}"
        pol = write_policy(regauthd, f"oidc-app-{SFX}", [allow_push("repository/oidc/app/*")])
        add_role(regauthd, tmp, f.app, trust(
            f.gh.url, equals={"oidc:repository": "acme/app", f"{kp}:aud": AUD},
            like={"oidc:ref": "refs/heads/main"}), [pol])
        # (d) any acme repository, any branch: its own ci/OWNER/REPO/* namespace
        f.ci = f"ci-{SFX}"
        pol = write_policy(regauthd, f"oidc-ci-{SFX}",
                           [allow_push("repository/ci/${oidc:repository}/*")])
        add_role(regauthd, tmp, f.ci, trust(
            f.gh.url, equals={"oidc:repository_owner": "acme", f"{kp}:aud": AUD},
            like={f"{kp}:sub": "repo:acme/*:ref:refs/heads/*"}), [pol])
        # (h) the same trust as app, sessions capped at 900 s / allowed 7200 s
        f.short = f"short-{SFX}"
        f.long = f"long-{SFX}"
        app_trust = trust(f.gh.url, equals={"oidc:repository": "acme/app",
                                            f"{kp}:aud": AUD},
                          like={"oidc:ref": "refs/heads/main"})
        add_role(regauthd, tmp, f.short, app_trust, [f"oidc-app-{SFX}"], max_session=900)
        add_role(regauthd, tmp, f.long, app_trust, [f"oidc-app-{SFX}"], max_session=7200)
        reload_and_wait(regauthd)
        yield f
    finally:
        for i in (f.gh, f.lone, f.stranger):
            i.stop()


@pytest.fixture(scope="module")
def kube(regauthd, fed):
    """(e, f) A Kubernetes issuer registered air-gapped (--jwks-file: never fetched), and a
    role for namespace ci, service account builder. Adds .kube, .kube_jwks, .k8s to fed."""
    fed.kube = OidcIssuer(path="/k8s")
    try:
        fed.kube_jwks = fed.kube.write_jwks(fed.tmp / "kube-jwks.json")
        add_issuer(regauthd, fed.kube.url, jwks_file=fed.kube_jwks)
        fed.k8s = f"k8s-{SFX}"
        pol = write_policy(regauthd, f"oidc-k8s-{SFX}", [allow_push("repository/k8s/ci/*")])
        add_role(regauthd, fed.tmp, fed.k8s, trust(
            fed.kube.url, equals={"oidc:kubernetes.io/namespace": "ci",
                                  "oidc:kubernetes.io/serviceaccount/name": "builder"}), [pol])
        reload_and_wait(regauthd)
        yield fed
    finally:
        fed.kube.stop()


# ---------------------------------------------------------------------------------------
# the commands


def test_oidc_add_writes_the_issuer(regauthd, fed):
    path = regauthd.dir / "oidc" / f"{issuer_file_name(fed.gh.url)}.json"
    assert path.name == f"127.0.0.1-{fed.gh.port}-gh.json"
    assert path.is_file(), f"no {path}: {sorted(p.name for p in path.parent.iterdir())}"
    doc = json.loads(path.read_text())
    assert doc["issuer"] == fed.gh.url, doc
    assert doc["audiences"] == [AUD], doc
    assert "jwks_file" not in doc, doc


def test_oidc_add_jwks_file_recorded(regauthd, kube):
    path = regauthd.dir / "oidc" / f"{issuer_file_name(kube.kube.url)}.json"
    doc = json.loads(path.read_text())
    assert doc["issuer"] == kube.kube.url and doc["audiences"] == [AUD], doc
    assert doc.get("jwks_file"), f"--jwks-file not recorded: {doc}"


def test_oidc_add_refusals(regauthd, fed, tmp_path):
    oidc_dir = regauthd.dir / "oidc"
    before = sorted(p.name for p in oidc_dir.iterdir())
    nowhere = f"http://127.0.0.1:{S.free_port()}/never"  # valid, but must not be written
    # the same issuer again: exit 1, nothing changed
    res = add_issuer(regauthd, fed.gh.url, check=False)
    assert res.returncode == 1, res.err
    assert res.err.startswith("regauthd: "), res.err
    # http:// off loopback, other schemes, query/fragment: refused, no file
    for url in ("http://ci.example.com/oidc", "http://10.1.2.3:8443/oidc",
                "ftp://127.0.0.1/oidc", "token.actions.githubusercontent.com",
                f"{nowhere}?x=1", f"{nowhere}#frag", f"{nowhere}//",
                "http://user@127.0.0.1/oidc"):
        res = add_issuer(regauthd, url, check=False)
        assert res.returncode in (1, 2), f"{url}: exit {res.returncode} {res.err}"
        assert res.err.startswith("regauthd: "), f"{url}: {res.err!r}"
    # no --audience: a usage error
    res = regauthd.cli("oidc", "add", "-c", regauthd.dir, nowhere, check=False)
    assert res.returncode in (1, 2), res.err
    # a --jwks-file that is not a JWKS
    bad = tmp_path / "bad.json"
    bad.write_text('{"keys": "no"}')
    res = add_issuer(regauthd, nowhere, jwks_file=bad, check=False)
    assert res.returncode in (1, 2), res.err
    res = add_issuer(regauthd, nowhere, jwks_file=tmp_path / "missing.json",
                     check=False)
    assert res.returncode in (1, 2), res.err
    assert sorted(p.name for p in oidc_dir.iterdir()) == before
    assert sum(fed.stranger.requests.values()) == 0


def test_oidc_add_name_and_several_audiences(regauthd, tmp_path):
    with OidcIssuer(path="/named") as iss:
        name = f"named-{SFX}"
        add_issuer(regauthd, iss.url, audiences=("regauth", "sts.example"), name=name)
        doc = json.loads((regauthd.dir / "oidc" / f"{name}.json").read_text())
        assert doc["issuer"] == iss.url and doc["audiences"] == ["regauth", "sts.example"]
        assert not (regauthd.dir / "oidc" / f"{issuer_file_name(iss.url)}.json").exists()
        # the same URL under another name is still the same issuer
        res = add_issuer(regauthd, iss.url, name=f"again-{SFX}", check=False)
        assert res.returncode == 1, res.err


def test_role_add_writes_the_role(regauthd, fed, tmp_path):
    doc = json.loads((regauthd.dir / "roles" / f"{fed.app}.json").read_text())
    assert doc["name"] == fed.app
    assert doc["trust"] == trust(fed.gh.url, equals={"oidc:repository": "acme/app",
                                                     f"{fed.gh.key_prefix}:aud": AUD},
                                 like={"oidc:ref": "refs/heads/main"})
    assert doc["policies"] == [f"oidc-app-{SFX}"]
    assert doc["max_session"] == LOGIN_LIFETIME, "a role's default maximum session is 1 h"
    short = json.loads((regauthd.dir / "roles" / f"{fed.short}.json").read_text())
    assert short["max_session"] == 900
    # a role that exists: exit 1; a trust file that is missing or not JSON: refused
    res = add_role(regauthd, tmp_path, fed.app, trust(fed.gh.url), check=False)
    assert res.returncode == 1, res.err
    res = regauthd.cli("role", "add", "-c", regauthd.dir, f"nofile-{SFX}", "--trust",
                       tmp_path / "missing.json", check=False)
    assert res.returncode in (1, 2), res.err
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    res = regauthd.cli("role", "add", "-c", regauthd.dir, f"junk-{SFX}", "--trust", junk,
                       check=False)
    assert res.returncode in (1, 2), res.err
    assert not (regauthd.dir / "roles" / f"nofile-{SFX}.json").exists()
    assert not (regauthd.dir / "roles" / f"junk-{SFX}.json").exists()


# ---------------------------------------------------------------------------------------
# (a) a matching GitHub token pushes where the role allows, and nowhere else


def test_github_token_pushes_with_the_role(regauthd, registry, token_proxy, fed, oci_image,
                                           client_env, skopeo_bin):
    tok = fed.gh.mint(fed.gh.github_claims("acme/app", "refs/heads/main"))
    login, claims, _ = session_ok(regauthd, tok, fed.app)
    principal = f"assumed-role/{fed.app}/repo-acme-app-ref-refs-heads-main"
    assert claims["sub"] == principal
    assert "subject_token" not in claims and tok not in json.dumps(claims)
    # /token, Basic with any user name: only oidc/app/* is granted
    scopes = ["repository:oidc/app/img:pull,push", "repository:team-a/oidc-other:pull"]
    _, rc, access = registry_token(regauthd, login, scopes)
    assert rc["sub"] == principal
    assert access == [repo("oidc/app/img", "pull", "push")], access
    # the refresh_token grant and the password grant take it too
    scope = " ".join(scopes)
    for form in ([("grant_type", "refresh_token"), ("refresh_token", login)],
                 [("grant_type", "password"), ("username", "ci"), ("password", login)]):
        r = regauthd.token_post(form + [("service", regauthd.service), ("scope", scope),
                                        ("client_id", "e2e")])
        c = regauthd.verify_reply(r, "POST", [scope])
        assert c["sub"] == principal
        assert S.normalize_access(c["access"]) == [repo("oidc/app/img", "pull", "push")]
    # the log names the session on the exchange
    recs = [x for x in regauthd.log_records() if x.get("path") == "/v1/login"
            and x.get("status") == 200 and x.get("principal") == principal]
    assert recs, "no /v1/login log line naming the assumed role"

    # skopeo pushes with it; the registry accepts; every token relayed names the session
    n0 = token_proxy.count()
    skopeo_push(skopeo_bin, client_env, oci_image, registry, "oidc/app/img:v1",
                f"regauth:{login}")
    gets = [r for r in token_proxy.records_since(n0) if r.path == "/token" and r.status == 200]
    assert gets, "skopeo fetched no token through the realm"
    subs = {jwt.decode(r.response["access_token"], options={"verify_signature": False})["sub"]
            for r in gets}
    assert subs == {principal}, subs
    res = S.run([skopeo_bin, "inspect", "--tls-verify=false", "--creds", f"x:{login}", "--raw",
                 f"docker://{registry.host}/oidc/app/img:v1"], env=client_env)
    assert json.loads(res.out)["layers"][0]["digest"] == oci_image["layer"]

    # another repository exists (alice pushes it) but the session may not pull it
    skopeo_push(skopeo_bin, client_env, oci_image, registry, "team-a/oidc-other:v1",
                f"alice:{regauthd.users['alice']}")
    res = S.run([skopeo_bin, "inspect", "--tls-verify=false", "--creds", f"x:{login}", "--raw",
                 f"docker://{registry.host}/team-a/oidc-other:v1"], env=client_env,
                check=False)
    assert res.returncode != 0, "the session pulled a repository its role does not allow"
    assert re.search(r"unauthorized|denied|authentication required", res.err), res.err
    # the registry itself refuses the session's token for it (insufficient_scope), and takes
    # it for its own repository
    rtok, _, access = registry_token(regauthd, login, ["repository:team-a/oidc-other:pull",
                                                       "repository:oidc/app/img:pull"])
    assert access == [repo("oidc/app/img", "pull")]
    off = registry.log_size()
    r = registry_get_manifest(registry, "team-a/oidc-other", "v1", rtok)
    assert r.status == 401, r
    assert "insufficient_scope" in r.headers.get("Www-Authenticate", ""), r.headers
    assert "insufficient scope" in registry.log_since(off)
    assert registry_get_manifest(registry, "oidc/app/img", "v1", rtok).status == 200
    # pushing to another namespace with the session fails
    res = skopeo_push(skopeo_bin, client_env, oci_image, registry, "team-a/oidc-evil:v1",
                      f"regauth:{login}", check=False)
    assert res.returncode != 0, res.out


# ---------------------------------------------------------------------------------------
# (b) a valid token the trust policy refuses: 403


def test_trust_refuses_other_repository_and_branch(regauthd, fed):
    cases = {
        "other repository": fed.gh.github_claims("acme/other", "refs/heads/main"),
        "other owner": fed.gh.github_claims("evil/app", "refs/heads/main"),
        "other branch": fed.gh.github_claims("acme/app", "refs/heads/feature"),
        "a tag": fed.gh.github_claims("acme/app", "refs/tags/v1"),
        "branch prefix": fed.gh.github_claims("acme/app", "refs/heads/main-evil"),
        "no ref claim": {k: v for k, v in fed.gh.github_claims().items() if k != "ref"},
        "repository in sub only": fed.gh.github_claims(
            "acme/other", "refs/heads/main", sub="repo:acme/app:ref:refs/heads/main"),
    }
    off = regauthd.daemon.log_size()
    bad = []
    for what, c in cases.items():
        tok = fed.gh.mint(c)
        SEEN.append(tok)
        r = exchange(regauthd, tok, fed.app)
        if r.status != 403:
            bad.append(f"{what}: {r}")
        else:
            assert_error(r, 403, what)
    assert not bad, "\n".join(bad)
    # the refusals are logged as 403 at /v1/login with no principal granted
    recs = login_log_records(regauthd, off, len(cases))
    assert [x["status"] for x in recs] == [403] * len(cases), recs
    assert not any("principal" in x for x in recs), recs
    # the control: the same issuer's matching token is taken
    session_ok(regauthd, fed.gh.mint(), fed.app)


def test_trust_deny_and_aud_condition(regauthd, fed, tmp_path):
    """IAM semantics in trust documents: an explicit Deny wins over the Allow; the AWS-style
    KEYPREFIX:aud condition tells apart two audiences the issuer accepts."""
    with OidcIssuer(path="/two") as iss:
        add_issuer(regauthd, iss.url, audiences=(AUD, "sts.example"))
        role = f"deny-{SFX}"
        doc = trust(iss.url, equals={f"{iss.key_prefix}:aud": AUD},
                    like={"oidc:repository": "acme/*"})
        doc["Statement"].append({
            "Effect": "Deny", "Principal": {"Federated": iss.url},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {"oidc:event_name": "pull_request"}}})
        add_role(regauthd, tmp_path, role, doc, [f"oidc-app-{SFX}"])
        reload_and_wait(regauthd)
        session_ok(regauthd, iss.mint(iss.github_claims("acme/lib")), role)
        for what, tok, want in (
                ("pull_request event (Deny)", iss.mint(iss.github_claims(
                    "acme/lib", event_name="pull_request")), 403),
                ("the issuer's other audience", iss.mint(aud="sts.example"), 403),
                ("an audience the issuer does not accept", iss.mint(aud="nope"), 401)):
            SEEN.append(tok)
            assert_error(exchange(regauthd, tok, role), want, what)


def test_removed_role_and_issuer(regauthd, fed, tmp_path):
    """A role file removed (then SIGHUP): its sessions' login tokens stop working, as a
    removed user's do. An issuer file removed: its tokens are refused."""
    with OidcIssuer(path="/rm") as iss:
        add_issuer(regauthd, iss.url)
        role = f"rm-{SFX}"
        add_role(regauthd, tmp_path, role, trust(iss.url, equals={"oidc:repository": "acme/app"}),
                 [f"oidc-app-{SFX}"])
        reload_and_wait(regauthd)
        login, _, _ = session_ok(regauthd, iss.mint(), role)
        sc = ["repository:oidc/app/img:pull"]
        assert registry_token(regauthd, login, sc)[2] == [repo("oidc/app/img", "pull")]
        (regauthd.dir / "roles" / f"{role}.json").unlink()
        reload_and_wait(regauthd)
        r = regauthd.token_get([("service", regauthd.service), ("scope", sc[0])], user="x",
                               password=login)
        assert_error(r, 401, "a login token of a removed role")
        tok = iss.mint()
        SEEN.append(tok)
        assert_error(exchange(regauthd, tok, role), 403, "a removed role")
        # the issuer goes too: its tokens are no longer verified at all
        add_role(regauthd, tmp_path, role, trust(iss.url), [f"oidc-app-{SFX}"])
        (regauthd.dir / "oidc" / f"{issuer_file_name(iss.url)}.json").unlink()
        reload_and_wait(regauthd)
        tok = iss.mint()
        SEEN.append(tok)
        assert_error(exchange(regauthd, tok, role), 401, "a removed issuer")
        (regauthd.dir / "roles" / f"{role}.json").unlink()  # no condition-less role left
        reload_and_wait(regauthd)


def test_unknown_role_is_refused(regauthd, fed):
    tok = fed.gh.mint()
    SEEN.append(tok)
    assert_error(exchange(regauthd, tok, f"no-such-role-{SFX}"), 403, "unknown role")
    # a user's name is not a role
    assert_error(exchange(regauthd, tok, "alice"), 403, "a user as role")


# ---------------------------------------------------------------------------------------
# (c) bad tokens: 401, and the server keeps serving


def test_bad_tokens_refused(regauthd, fed):
    gh, now = fed.gh, int(time.time())
    stranger_key = gh.stranger_key()
    good = gh.mint()
    head, _, sig = good.rpartition(".")
    raw = bytearray(S.b64u_decode(sig))
    raw[7] ^= 1
    claims_of_good = jwt.decode(good, options={"verify_signature": False})
    forged_payload = dict(claims_of_good, repository="acme/app", sub="repo:acme/app:x")
    cases = {
        "expired beyond the leeway": gh.mint(iat=now - 1000, lifetime=300),   # exp now-700
        "expired 90 s ago": gh.mint(iat=now - 390, lifetime=300),
        "not yet valid": gh.mint(iat=now + 600, lifetime=300),
        "no exp": gh.mint(dict(gh.github_claims(), exp=None)),
        "wrong aud": gh.mint(aud="https://github.com/acme"),
        "aud list without ours": gh.mint(aud=["sts.amazonaws.com", "other"]),
        "no aud": gh.mint(aud=None),
        "unknown kid (stranger key)": gh.mint(key=stranger_key, kid="stranger-1"),
        "stranger key under a published kid": gh.mint(key=stranger_key),
        "ES256 kid over an RSA signature": gh.mint(key=stranger_key, kid="ec-1"),
        "flipped signature bit": f"{head}.{S.b64u(bytes(raw))}",
        "tampered payload": head.split(".")[0] + "." + S.b64u(json.dumps(forged_payload).encode())
                            + "." + sig,
        "alg none": gh.mint(alg="none"),
        "alg none, no kid": gh.mint(alg="none", kid=None, headers={"kid": None}),
        "HS256 keyed with the RSA public key PEM": gh.mint(alg="HS256"),
        "HS256 keyed with the PEM, no kid": gh.mint(alg="HS256", headers={"kid": None}),
        "unregistered issuer": fed.stranger.mint(),
        "iss forged, signed by the stranger issuer": fed.stranger.mint(
            dict(gh.github_claims(), iss=gh.url), kid="rsa-1"),
        "issuer URL with a trailing slash": gh.mint(dict(gh.github_claims(), iss=gh.url + "/")),
        "no sub": gh.mint(dict(gh.github_claims(), sub=None)),
        "garbage": "abc.def.ghi",
        "not a JWT": "hello",
    }
    off = regauthd.daemon.log_size()
    gh_before = dict(gh.requests)
    bad = []
    for what, tok in cases.items():
        SEEN.append(tok)
        r = exchange(regauthd, tok, fed.app)
        if r.status != 401:
            bad.append(f"{what}: want 401, got {r}")
            continue
        err = assert_error(r, 401, what)
        if tok in json.dumps(err) or (len(tok) > 40 and tok.split(".")[-1] and
                                      tok.split(".")[-1] in r.text):
            bad.append(f"{what}: the refusal echoes the token")
        if not regauthd.healthy():
            bad.append(f"{what}: /healthz failed after it")
    assert not bad, "\n".join(bad)
    # the server never fetched from an issuer it was not told to trust (no SSRF by iss)
    assert sum(fed.stranger.requests.values()) == 0, fed.stranger.request_log
    # unknown kids do not make it hammer the issuer's JWKS
    assert gh.requests["jwks"] - gh_before.get("jwks", 0) <= 2, gh.requests
    recs = login_log_records(regauthd, off, len(cases))
    assert {x["status"] for x in recs} == {401}, recs
    assert regauthd.alive() and regauthd.healthy()
    # a token within the 60 s leeway is still taken; so is an aud list holding ours
    session_ok(regauthd, gh.mint(iat=now - 330, lifetime=300), fed.app)   # exp now-30


def test_registered_issuer_not_in_the_trust(regauthd, fed):
    """A valid token of a registered issuer that the role's trust does not name: the trust
    policy refuses the role, 403 (CONTRACT.md: "a trust policy that refuses a role 403";
    AWS answers AccessDenied). The brief listed it with the 401s."""
    tok = fed.lone.mint(fed.lone.github_claims("acme/app", "refs/heads/main"))
    SEEN.append(tok)
    assert_error(exchange(regauthd, tok, fed.app), 403, "issuer not in the trust")
    # the same claims from the trusted issuer: taken
    session_ok(regauthd, fed.gh.mint(fed.gh.github_claims("acme/app", "refs/heads/main")),
               fed.app)


def test_oversized_and_odd_claims_are_refused_not_500(regauthd, fed):
    """Claims the server will not carry (too many, too long, ambiguous once flattened) and
    oversized tokens: a refusal (4xx JSON), never a 5xx, and the server keeps serving."""
    gh = fed.gh
    base = gh.github_claims()
    cases = {
        "200 extra claims": gh.mint(dict(base, **{f"x{i}": "v" for i in range(200)})),
        "a 2000-byte claim value": gh.mint(dict(base, workflow="w" * 2000)),
        "duplicate after flattening": gh.mint(dict(base, a={"b": "1"}, **{"a/b": "2"})),
        "deeply nested claim": gh.mint(dict(base, deep=_nest(64))),
        "a 20 kB token": gh.mint(dict(base, pad="p" * 20000)),
    }
    bad = []
    for what, tok in cases.items():
        SEEN.append(tok)
        r = exchange(regauthd, tok, fed.app)
        if not 400 <= r.status < 500:
            bad.append(f"{what}: want a 4xx refusal, got {r}")
            continue
        assert_error(r, r.status, what)
    assert not bad, "\n".join(bad)
    # odd but fine: numbers, booleans, arrays and objects among the claims do not stop a match
    session_ok(regauthd, gh.mint(dict(base, run_number=42, ref_protected=True,
                                      groups=["a", "b"], extra={"k": 1}), aud=AUD), fed.app)


def _nest(depth):
    d = "leaf"
    for _ in range(depth):
        d = {"n": d}
    return d


def test_bad_requests_are_400(regauthd, fed):
    tok = fed.gh.mint()
    SEEN.append(tok)
    cases = {
        "no role": exchange(regauthd, tok, None),
        "no subject_token": exchange(regauthd, None, fed.app),
        "subject_token_type access_token": exchange(regauthd, tok, fed.app,
                                                    token_type=ACCESS_TYPE),
        "subject_token_type made up": exchange(regauthd, tok, fed.app,
                                               token_type="urn:example:saml"),
    }
    bad = [f"{w}: {r}" for w, r in cases.items() if r.status != 400]
    assert not bad, "\n".join(bad)
    for w, r in cases.items():
        assert_error(r, 400, w)
    # empty fields: missing (400) or, for the token, a bad token (401); the role, unknown (403)
    r = exchange(regauthd, "", fed.app)
    assert r.status in (400, 401), f"empty subject_token: {r}"
    assert_error(r, r.status, "empty subject_token")
    r = exchange(regauthd, tok, "")
    assert r.status in (400, 403), f"empty role: {r}"
    assert_error(r, r.status, "empty role")
    # an unknown grant type
    r = exchange(regauthd, tok, fed.app, grant="urn:example:grant")
    assert r.status in (400, 401), r
    # the token was not consumed by any of that
    session_ok(regauthd, tok, fed.app)


# ---------------------------------------------------------------------------------------
# (d) ${oidc:repository}: each CI repository gets only its own namespace


def test_policy_variable_gives_each_repository_its_namespace(regauthd, registry, fed,
                                                             oci_image, client_env,
                                                             skopeo_bin):
    mine = {}
    for r_name in ("acme/app", "acme/other"):
        tok = fed.gh.mint(fed.gh.github_claims(r_name, "refs/heads/dev"))
        login, _, _ = session_ok(regauthd, tok, fed.ci)
        mine[r_name] = login
    scopes = ["repository:ci/acme/app/img:pull,push", "repository:ci/acme/other/img:pull,push",
              "repository:ci/acme/img:pull,push"]
    for r_name, login in mine.items():
        sess = derived_session(f"repo:{r_name}:ref:refs/heads/dev")
        tok, claims, access = registry_token(regauthd, login, scopes)
        assert claims["sub"] == f"assumed-role/{fed.ci}/{sess}"
        assert access == [repo(f"ci/{r_name}/img", "pull", "push")], (r_name, access)
        # decoded with PyJWT against the server's JWKS, the grant is the same
        assert jwks_verify(regauthd, tok)["access"] == claims["access"]
    # real pushes: each to its own namespace; the other's is refused
    for r_name, login in mine.items():
        other = "acme/other" if r_name == "acme/app" else "acme/app"
        skopeo_push(skopeo_bin, client_env, oci_image, registry, f"ci/{r_name}/img:v1",
                    f"regauth:{login}")
        res = skopeo_push(skopeo_bin, client_env, oci_image, registry,
                          f"ci/{other}/img:from-{r_name.split('/')[1]}", f"regauth:{login}",
                          check=False)
        assert res.returncode != 0, f"{r_name} pushed into {other}'s namespace"
    for r_name, login in mine.items():
        other = "acme/other" if r_name == "acme/app" else "acme/app"
        rtok, _, _ = registry_token(regauthd, login, [f"repository:ci/{r_name}/img:pull",
                                                      f"repository:ci/{other}/img:pull"])
        assert registry_get_manifest(registry, f"ci/{r_name}/img", "v1", rtok).status == 200
        r = registry_get_manifest(registry, f"ci/{other}/img", "v1", rtok)
        assert r.status == 401 and "insufficient_scope" in r.headers.get("Www-Authenticate", "")
    # a third-party owner is refused by the trust (403), never reaches the policy
    tok = fed.gh.mint(fed.gh.github_claims("evil/app", "refs/heads/dev"))
    SEEN.append(tok)
    assert_error(exchange(regauthd, tok, fed.ci), 403, "evil owner")


# ---------------------------------------------------------------------------------------
# (e) Kubernetes projected service-account tokens


def test_kubernetes_token_by_namespace(regauthd, kube):
    fed = kube
    k = fed.kube
    tok = k.mint(k.kube_claims("ci", "builder"), aud=[AUD], lifetime=3600)
    login, claims, _ = session_ok(regauthd, tok, fed.k8s)
    sess = "system-serviceaccount-ci-builder"
    assert claims["sub"] == f"assumed-role/{fed.k8s}/{sess}"
    _, rc, access = registry_token(regauthd, login, ["repository:k8s/ci/app:pull,push",
                                                     "repository:k8s/prod/app:pull"])
    assert access == [repo("k8s/ci/app", "pull", "push")]
    # ES256 keys work as well as RS256; an aud list holding ours (the API server's default
    # audience beside it) is taken
    session_ok(regauthd, k.mint(k.kube_claims("ci", "builder"), alg="ES256"), fed.k8s)
    session_ok(regauthd, k.mint(k.kube_claims(), aud=["https://kubernetes.default.svc", AUD]),
               fed.k8s)
    # a GitHub token (registered issuer, not in this role's trust) is refused
    t = fed.gh.mint()
    SEEN.append(t)
    assert_error(exchange(regauthd, t, fed.k8s), 403, "GitHub token for the Kubernetes role")
    for what, c in {"other namespace": k.kube_claims("prod", "builder"),
                    "other service account": k.kube_claims("ci", "default"),
                    "namespace only in sub": k.kube_claims(
                        "prod", "builder", sub="system:serviceaccount:ci:builder"),
                    }.items():
        t = k.mint(c)
        SEEN.append(t)
        assert_error(exchange(regauthd, t, fed.k8s), 403, what)
    # a flat claim named like the nested one flattens to the same key: the token is
    # ambiguous and must be refused (never granted, never a server error)
    t = k.mint(dict(k.kube_claims("prod", "builder"), **{"kubernetes.io/namespace": "ci"}))
    SEEN.append(t)
    r = exchange(regauthd, t, fed.k8s)
    assert r.status in (401, 403), f"flat claim spoofing the nested one: {r}"
    assert_error(r, r.status, "flat claim spoofing the nested one")


# ---------------------------------------------------------------------------------------
# (f) an air-gapped issuer (--jwks-file) is never fetched


def test_jwks_file_issuer_needs_no_fetch(regauthd, kube, tmp_path):
    fed = kube
    k = fed.kube
    for _ in range(3):
        session_ok(regauthd, k.mint(k.kube_claims()), fed.k8s)
    # a key the file does not hold (the cluster rotated): refused, and still no fetch
    k.add_key("rsa-new")
    try:
        t = k.mint(k.kube_claims(), kid="rsa-new")
        SEEN.append(t)
        assert_error(exchange(regauthd, t, fed.k8s), 401, "key not in the JWKS file")
        reload_and_wait(regauthd)
        session_ok(regauthd, k.mint(k.kube_claims()), fed.k8s)
    finally:
        k.remove_key("rsa-new")
    assert sum(k.requests.values()) == 0, f"the air-gapped issuer was fetched: {k.request_log}"
    # a fresh air-gapped issuer whose HTTP server is already gone
    with OidcIssuer(path="/gone") as gone:
        jf = gone.write_jwks(tmp_path / "gone.json")
        add_issuer(regauthd, gone.url, jwks_file=jf)
        role = f"gone-{SFX}"
        add_role(regauthd, tmp_path, role, trust(gone.url, equals={
            "oidc:kubernetes.io/namespace": "ci"}), [f"oidc-k8s-{SFX}"])
        tokens = [gone.mint(gone.kube_claims()), gone.mint(gone.kube_claims(), alg="ES256")]
    SEEN.extend(tokens)
    reload_and_wait(regauthd)
    for t in tokens:
        session_ok(regauthd, t, role)
    assert sum(gone.requests.values()) == 0


def test_fetched_issuer_key_rotation(regauthd, fed, tmp_path):
    """A fetched issuer that publishes a new key: its tokens are taken once the server
    refetches the JWKS (it may wait a little between refetches, not forever)."""
    with OidcIssuer(path="/rot") as iss:
        add_issuer(regauthd, iss.url)
        role = f"rot-{SFX}"
        add_role(regauthd, tmp_path, role, trust(iss.url, equals={"oidc:repository": "acme/app"}),
                 [f"oidc-app-{SFX}"])
        reload_and_wait(regauthd)
        session_ok(regauthd, iss.mint(), role)
        assert iss.requests["jwks"] >= 1
        iss.add_key("rsa-2")
        deadline = time.monotonic() + 45
        while True:
            t = iss.mint(kid="rsa-2")
            SEEN.append(t)
            r = exchange(regauthd, t, role)
            if r.status == 200:
                break
            assert r.status == 401, r
            assert time.monotonic() < deadline, "a rotated-in key was never fetched"
            time.sleep(2)
        session_ok(regauthd, iss.mint(kid="rsa-2"), role)
        assert iss.requests["jwks"] <= 4, f"JWKS fetched too often: {iss.requests}"


# ---------------------------------------------------------------------------------------
# (g) session names


def test_session_names(regauthd, fed):
    gh = fed.gh
    subs = {
        "repo:acme/app:ref:refs/heads/main": "repo-acme-app-ref-refs-heads-main",
        "repo:acme/app:environment:" + "production_eu-west_" * 5:
            ("repo-acme-app-environment-" + "production-eu-west-" * 5)[:64],
        "a+b=c,d.e@f-g h/i:j": "a+b=c,d.e@f-g-h-i-j",
    }
    for sub, want in subs.items():
        assert derived_session(sub) == want
        _, claims, _ = session_ok(regauthd, gh.mint(gh.github_claims(sub=sub)), fed.app,
                                  want_session=want)
        assert len(want) <= 64
    # the session form field wins over the sub
    login, claims, body = session_ok(regauthd, gh.mint(), fed.app, session="deploy-42",
                                     want_session="deploy-42")
    _, rc, _ = registry_token(regauthd, login, ["repository:oidc/app/img:pull"])
    assert rc["sub"] == f"assumed-role/{fed.app}/deploy-42"
    for ok in ("x" * 64, "ci.run+7=a,b@c-d"):
        session_ok(regauthd, gh.mint(), fed.app, session=ok, want_session=ok)
    tok = gh.mint()
    SEEN.append(tok)
    bad = []
    for s in ("has space", "slash/name", "colon:name", "x" * 65, "na\u00efve", "semi;colon"):
        r = exchange(regauthd, tok, fed.app, session=s)
        if r.status != 400:
            bad.append(f"session {s!r}: {r}")
        else:
            assert_error(r, 400, s)
    assert not bad, "\n".join(bad)


# ---------------------------------------------------------------------------------------
# (h) the role's maximum session caps the login token


def test_max_session_caps_expires_in(regauthd, fed):
    gh = fed.gh
    login, claims, _ = session_ok(regauthd, gh.mint(), fed.short, expires=900)
    assert claims["exp"] - claims["iat"] <= 900
    # the registry token it buys is still an ordinary 300 s one
    _, rc, _ = registry_token(regauthd, login, ["repository:oidc/app/img:pull"])
    assert rc["exp"] - rc["iat"] == 300
    # a role allowing 2 h still gets the 1 h login-token lifetime
    session_ok(regauthd, gh.mint(), fed.long, expires=LOGIN_LIFETIME)
    # a login token made from that login token (password grant) never outlives it
    body = urllib.parse.urlencode({"grant_type": "password", "username": "x",
                                   "password": login}).encode()
    r = regauthd.request("POST", "/v1/login", headers={"Content-Type": FORM}, body=body)
    assert r.status == 200, r
    SEEN.append(r.json()["access_token"])
    derived = regauthd.verifier.login_token(r.json()["access_token"])
    assert derived["sub"] == claims["sub"]
    assert derived["exp"] <= claims["exp"], (derived, claims)


# ---------------------------------------------------------------------------------------
# (i) the registry token's subject, and a replayed OIDC token


def test_replayed_oidc_token(regauthd, fed):
    """OIDC tokens are bearer tokens valid until exp (CI jobs retry); the exchange is not
    single-use. This test pins that behaviour: the same token works twice."""
    tok = fed.gh.mint()
    first, c1, _ = session_ok(regauthd, tok, fed.app)
    second, c2, _ = session_ok(regauthd, tok, fed.app)
    assert first != second
    assert c1["sub"] == c2["sub"]
    for login in (first, second):
        _, rc, access = registry_token(regauthd, login, ["repository:oidc/app/img:pull"])
        assert rc["sub"] == c1["sub"] == f"assumed-role/{fed.app}/repo-acme-app-ref-refs-heads-main"
        assert access == [repo("oidc/app/img", "pull")]


def test_login_token_survives_reload_and_follows_the_role(regauthd, fed, tmp_path):
    """The session's rights come from the role's policies at /token time."""
    role = f"edit-{SFX}"
    pol = write_policy(regauthd, f"oidc-edit-{SFX}", [allow_push("repository/oidc/edit/*")])
    add_role(regauthd, tmp_path, role, trust(fed.gh.url, equals={
        "oidc:repository": "acme/app"}), [pol])
    reload_and_wait(regauthd)
    login, _, _ = session_ok(regauthd, fed.gh.mint(), role)
    sc = ["repository:oidc/edit/a:pull,push"]
    assert registry_token(regauthd, login, sc)[2] == [repo("oidc/edit/a", "pull", "push")]
    # the policy is narrowed to pull: the same login token now gets only pull
    write_policy(regauthd, pol, [{"Effect": "Allow", "Action": "registry:Pull",
                                  "Resource": "repository/oidc/edit/*"}])
    reload_and_wait(regauthd)
    assert registry_token(regauthd, login, sc)[2] == [repo("oidc/edit/a", "pull")]


# ---------------------------------------------------------------------------------------
# no token in the log


def test_no_token_in_the_log(regauthd, fed):
    assert len(SEEN) > 20, "the earlier tests of this module did not run"
    text = regauthd.daemon.log_text(0)
    leaked = []
    for t in SEEN:
        if len(t) < 40:
            continue
        parts = t.split(".")
        pieces = [t] + [p for p in parts[1:] if len(p) >= 16]  # payload and signature
        if any(p in text for p in pieces):
            leaked.append(t[:40] + "...")
    assert not leaked, f"{len(leaked)} tokens (or their payload/signature) in the log: {leaked[:5]}"
