"""docker-credential-regauth with OIDC tokens (issue 5), end to end: the helper's `get` in a
simulated GitHub Actions job (the session's local issuer, oidc_issuer.py, plays the runner's
token endpoint), with a Kubernetes-style token file read again on every use, with a GitLab-style
token in the environment, and the `kubelet` credential provider command, against the
session's real regauthd (`regauthd oidc add`, `regauthd role add`, SIGHUP) and registry.
Login tokens are checked against the CA bundle (support.TokenVerifier), registry tokens also
against the server's /.well-known/jwks.json with PyJWT; skopeo pushes with what the helper
answers. Every piece of the helper's state lives in the test's tmp folder."""

import json
import os
import re
import secrets
import time

import jwt
import pytest

import support as S

HELPER = S.REPO_ROOT / "bin" / "docker-credential-regauth"
NOT_FOUND = "credentials not found in native keychain"
V1 = "credentialprovider.kubelet.k8s.io/v1"
SFX = secrets.token_hex(3)  # the configuration directory is shared by the whole session
AUD2 = f"helper-aud-{SFX}"  # a second audience, asked with REGAUTH_OIDC_AUDIENCE
APP_REPO = "helper-oidc/app"
K8S_REPO = "helper-k8s/app"

# The helper's variables, none of which may leak in from the caller's environment.
HELPER_VARS = ("REGAUTH_SERVER", "REGAUTH_KEY_FILE", "REGAUTH_NO_CACHE", "REGAUTH_ROLE",
               "REGAUTH_OIDC_TOKEN", "REGAUTH_OIDC_TOKEN_FILE", "REGAUTH_OIDC_AUDIENCE",
               "ACTIONS_ID_TOKEN_REQUEST_URL", "ACTIONS_ID_TOKEN_REQUEST_TOKEN")


# ---------------------------------------------------------------------------------------
# helpers


reload_and_wait = S.reload_and_wait


def trust(issuer_url, equals):
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": issuer_url},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": equals}}]}


def add_role(regauthd, tmp, name, trust_doc, resource):
    pol = f"{name}-push"
    (regauthd.dir / "policies" / f"{pol}.json").write_text(json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["registry:Pull", "registry:Push"],
            "Resource": resource}]}))
    tf = tmp / f"trust-{name}.json"
    tf.write_text(json.dumps(trust_doc))
    regauthd.cli("role", "add", "-c", regauthd.dir, name, "--trust", tf, "--policy", pol)


class Fed:
    pass


@pytest.fixture(scope="module")
def fed(regauthd, oidc_issuer, tmp_path_factory):
    """The session's issuer trusted with two audiences (the server's issuer, the helper's
    default, and AUD2); role app (acme/app: push helper-oidc/*) and role kube (namespace
    ci, service account builder: push helper-k8s/*)."""
    tmp = tmp_path_factory.mktemp("helper-oidc")
    res = regauthd.cli("oidc", "add", "-c", regauthd.dir, oidc_issuer.url,
                       "--audience", regauthd.issuer, "--audience", AUD2, check=False)
    assert res.returncode == 0, f"regauthd oidc add: {res.out}{res.err}"
    f = Fed()
    f.app = f"helper-app-{SFX}"
    f.kube = f"helper-kube-{SFX}"
    add_role(regauthd, tmp, f.app, trust(oidc_issuer.url, {"oidc:repository": "acme/app"}),
             "repository/helper-oidc/*")
    add_role(regauthd, tmp, f.kube, trust(oidc_issuer.url, {
        "oidc:kubernetes.io/namespace": "ci",
        "oidc:kubernetes.io/serviceaccount/name": "builder"}), "repository/helper-k8s/*")
    reload_and_wait(regauthd)
    f.app_session = f"assumed-role/{f.app}/repo-acme-app-ref-refs-heads-main"
    f.kube_session = f"assumed-role/{f.kube}/system-serviceaccount-ci-builder"
    return f


@pytest.fixture
def henv(client_env, tmp_path):
    """client_env plus the helper's cache and (absent) configuration in tmp_path, and none
    of the helper's variables."""
    if not os.access(HELPER, os.X_OK):
        pytest.fail(f"{HELPER} is missing: run `make` first", pytrace=False)
    env = dict(client_env)
    env["PATH"] = f"{HELPER.parent}:{env['PATH']}"
    env["REGAUTH_CACHE_DIR"] = str(tmp_path / "regauth-cache")
    env["REGAUTH_CONFIG"] = str(tmp_path / "regauth-config.json")
    env["REGAUTH_LOG"] = "debug"
    for k in HELPER_VARS:
        env.pop(k, None)
    return env


@pytest.fixture
def gha(oidc_issuer):
    """The issuer's runner endpoint, its claims restored after the test."""
    saved = oidc_issuer.gha_claims
    try:
        yield oidc_issuer
    finally:
        oidc_issuer.gha_claims = saved


def helper(env, *args, input=b""):
    return S.run([str(HELPER), *args], input=input, env=env, check=False, timeout=60)


def get(env, server):
    return helper(env, "get", input=server.encode())


def one_line_failure(res):
    assert res.returncode == 1, res.out + res.err
    lines = res.out.strip().splitlines()
    assert len(lines) == 1, res.out
    return lines[0]


def login_posts(regauthd, since):
    return [r for r in regauthd.log_records(since)
            if r.get("method") == "POST" and r.get("path") == "/v1/login"]


def jwks_verify(regauthd, token):
    """A registry token checked against the server's JWKS over HTTP (not the bundle)."""
    r = regauthd.request("GET", "/.well-known/jwks.json")
    assert r.status == 200, r
    keys = {k.get("kid"): k for k in r.json()["keys"]}
    kid = jwt.get_unverified_header(token).get("kid")
    assert kid in keys, f"registry token kid {kid!r} is not in /.well-known/jwks.json"
    return jwt.decode(token, jwt.PyJWK(keys[kid], algorithm="ES256").key, algorithms=["ES256"],
                      audience=regauthd.service, issuer=regauthd.issuer,
                      options={"require": ["exp", "iat", "sub"]})


def registry_access(regauthd, user, login, scopes):
    """GET /token with Basic user:login; the access granted, verified two ways."""
    r = regauthd.token_get([("service", regauthd.service)] + [("scope", s) for s in scopes],
                           user=user, password=login)
    claims = regauthd.verify_reply(r, "GET", list(scopes))
    assert jwks_verify(regauthd, r.json()["token"]) == claims
    return claims, S.normalize_access(claims["access"])


def repo(name, *actions):
    return {"type": "repository", "name": name, "actions": sorted(actions)}


def skopeo_push(skopeo_bin, env, image, registry, path, authfile=None, creds=None,
                check=True):
    argv = [skopeo_bin, "copy", "--dest-tls-verify=false"]
    if authfile is not None:
        argv += ["--authfile", authfile]
    if creds is not None:
        argv += ["--dest-creds", creds]
    return S.run(argv + [image["ref"], f"docker://{registry.host}/{path}"], env=env,
                 check=check, timeout=120)


def cred_helpers_authfile(tmp_path, registry):
    authfile = tmp_path / "helper-auth.json"
    authfile.write_text(json.dumps({"credHelpers": {registry.host: "regauth"}}))
    return authfile


# ---------------------------------------------------------------------------------------
# (a) GitHub Actions, detected with nothing configured but REGAUTH_SERVER and REGAUTH_ROLE


def test_github_actions_get_and_skopeo_push(henv, regauthd, registry, fed, gha, oci_image,
                                            skopeo_bin, tmp_path):
    env = dict(henv, REGAUTH_SERVER=regauthd.url, REGAUTH_ROLE=fed.app, **gha.actions_env())
    assert not (tmp_path / "regauth-config.json").exists()
    n0, log0 = len(gha.gha_audiences), regauthd.daemon.log_size()
    res = get(env, registry.host)
    assert res.returncode == 0, res.out + res.err
    obj = json.loads(res.out)
    assert obj["ServerURL"] == registry.host and obj["Username"] == "<token>", obj
    claims = regauthd.verifier.login_token(obj["Secret"])
    assert claims["sub"] == fed.app_session, claims
    # the audience asked of the runner: the server's issuer, from GET /v1/info
    assert gha.gha_audiences[n0:] == [regauthd.issuer]
    log = [r for r in gha.request_log if r[1].startswith("/gha/token")][-1]
    assert log[1] == f"/gha/token?api-version=2.0&audience={regauthd.issuer}", log[1]
    assert log[2]["authorization"] == f"bearer {gha.gha_secret}"
    assert [p.get("status") for p in login_posts(regauthd, log0)] == [200]
    # no token in the trace
    assert gha.gha_secret not in res.err and obj["Secret"] not in res.err
    assert obj["Secret"].split(".")[2] not in res.err

    # the next get is served from the cache: no request to the runner, no exchange
    log1 = regauthd.daemon.log_size()
    res = get(env, f"https://{registry.host}/")
    assert res.returncode == 0, res.out + res.err
    assert json.loads(res.out)["Secret"] == obj["Secret"]
    assert len(gha.gha_audiences) == n0 + 1
    assert login_posts(regauthd, log1) == []

    # skopeo, through credHelpers, pushes with it; another namespace is refused
    authfile = cred_helpers_authfile(tmp_path, registry)
    skopeo_push(skopeo_bin, env, oci_image, registry, f"{APP_REPO}:gha", authfile=authfile)
    res = S.run([skopeo_bin, "inspect", "--tls-verify=false", "--authfile", authfile, "--raw",
                 f"docker://{registry.host}/{APP_REPO}:gha"], env=env)
    assert json.loads(res.out)["layers"][0]["digest"] == oci_image["layer"]
    res = skopeo_push(skopeo_bin, env, oci_image, registry, "team-a/helper-gha:x",
                      authfile=authfile, check=False)
    assert res.returncode != 0, "the role pushed outside helper-oidc/*"
    assert len(gha.gha_audiences) == n0 + 1, "skopeo's gets did not use the cached token"


def test_github_actions_audience_from_the_environment(henv, regauthd, registry, fed, gha):
    env = dict(henv, REGAUTH_SERVER=regauthd.url, REGAUTH_ROLE=fed.app,
               REGAUTH_OIDC_AUDIENCE=AUD2, REGAUTH_NO_CACHE="1", **gha.actions_env())
    n0 = len(gha.gha_audiences)
    for _ in range(2):
        res = get(env, registry.host)
        assert res.returncode == 0, res.out + res.err
        assert regauthd.verifier.login_token(json.loads(res.out)["Secret"])["sub"] == \
            fed.app_session
    # REGAUTH_NO_CACHE: asked twice, with AUD2 each time
    assert gha.gha_audiences[n0:] == [AUD2, AUD2]
    cache = env["REGAUTH_CACHE_DIR"]
    assert not os.path.isdir(cache) or not [n for n in os.listdir(cache) if "token-" in n]
    # an audience the server does not accept: the token is refused (401)
    env["REGAUTH_OIDC_AUDIENCE"] = "not-an-accepted-audience"
    line = one_line_failure(get(env, registry.host))
    assert "refused the OIDC token" in line and "401" in line, line


def test_github_actions_trust_policy_refusal_is_one_clear_line(henv, regauthd, registry,
                                                               fed, gha):
    gha.gha_claims = gha.github_claims("acme/other", "refs/heads/main")
    env = dict(henv, REGAUTH_SERVER=regauthd.url, REGAUTH_ROLE=fed.app, **gha.actions_env())
    line = one_line_failure(get(env, registry.host))
    assert line.startswith(f"role {fed.app} refused this token: check its trust policy"), line
    assert "403" in line
    # an unknown role: refused as well, naming the role
    env["REGAUTH_ROLE"] = f"no-such-role-{SFX}"
    line = one_line_failure(get(env, registry.host))
    assert f"no-such-role-{SFX}" in line, line


def test_role_without_an_oidc_token_says_what_to_do(henv, regauthd, registry, fed, gha):
    env = dict(henv, REGAUTH_SERVER=regauthd.url, REGAUTH_ROLE=fed.app)
    line = one_line_failure(get(env, registry.host))
    assert "REGAUTH_OIDC_TOKEN_FILE" in line and "id-token: write" in line, line
    # a runner token the runner refuses
    env.update(gha.actions_env())
    env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "wrong"
    refused0 = gha.gha_refused
    line = one_line_failure(get(env, registry.host))
    assert "GitHub Actions refused" in line and "401" in line, line
    assert gha.gha_refused == refused0 + 1
    # runner variables without a role: not used, the registry has no credential
    env = dict(henv, REGAUTH_SERVER=regauthd.url, **gha.actions_env())
    n0 = len(gha.gha_audiences)
    res = get(env, registry.host)
    assert (res.returncode, res.out) == (1, NOT_FOUND + "\n"), res.out + res.err
    assert len(gha.gha_audiences) == n0


def test_oidc_token_goes_only_to_a_configured_server(henv, regauthd, registry, fed, gha):
    """With REGAUTH_SERVER unset, `get` does not follow the registry's challenge with an
    OIDC token (any registry could name any server): not found, and nothing was asked."""
    env = dict(henv, REGAUTH_ROLE=fed.app, **gha.actions_env())
    n0, log0 = len(gha.gha_audiences), regauthd.daemon.log_size()
    res = get(env, registry.host)
    assert (res.returncode, res.out) == (1, NOT_FOUND + "\n"), res.out + res.err
    assert "goes only to" in res.err
    assert len(gha.gha_audiences) == n0 and login_posts(regauthd, log0) == []
    # the configuration file's server is a configured one
    cfg = {"registries": {registry.host: {"server": regauthd.url, "role": fed.app}}}
    with open(env["REGAUTH_CONFIG"], "w") as f:
        json.dump(cfg, f)
    env.pop("REGAUTH_ROLE")
    res = get(env, registry.host)
    assert res.returncode == 0, res.out + res.err
    assert regauthd.verifier.login_token(json.loads(res.out)["Secret"])["sub"] == \
        fed.app_session


# ---------------------------------------------------------------------------------------
# (b) a token file (Kubernetes projected tokens), and a token in the environment (GitLab)


def test_token_file_is_read_on_every_use(henv, regauthd, registry, fed, oidc_issuer,
                                         tmp_path):
    iss = oidc_issuer
    tokfile = tmp_path / "token"
    tokfile.write_text(iss.mint(iss.github_claims("acme/app"), aud=regauthd.issuer) + "\n")
    env = dict(henv, REGAUTH_SERVER=regauthd.url, REGAUTH_ROLE=fed.app,
               REGAUTH_OIDC_TOKEN_FILE=str(tokfile), REGAUTH_NO_CACHE="1")
    res = get(env, registry.host)
    assert res.returncode == 0, res.out + res.err
    assert regauthd.verifier.login_token(json.loads(res.out)["Secret"])["sub"] == \
        fed.app_session
    # the file now holds a token of a repository the trust policy refuses
    tokfile.write_text(iss.mint(iss.github_claims("acme/other"), aud=regauthd.issuer))
    line = one_line_failure(get(env, registry.host))
    assert line.startswith(f"role {fed.app} refused this token: check its trust policy"), line
    # and back
    tokfile.write_text(iss.mint(iss.github_claims("acme/app"), aud=regauthd.issuer))
    assert get(env, registry.host).returncode == 0
    # empty, missing, too large, not a JWT: clear errors naming the file
    tokfile.write_text(" \n")
    line = one_line_failure(get(env, registry.host))
    assert str(tokfile) in line and "empty" in line, line
    tokfile.unlink()
    line = one_line_failure(get(env, registry.host))
    assert str(tokfile) in line and "does not exist" in line, line
    tokfile.write_text("x" * (16 * 1024 + 1))
    line = one_line_failure(get(env, registry.host))
    assert str(tokfile) in line and "larger than" in line, line
    tokfile.write_text("not a jwt")
    line = one_line_failure(get(env, registry.host))
    assert str(tokfile) in line and "JWT" in line, line


def test_token_file_cache_follows_the_workload(henv, regauthd, registry, fed, oidc_issuer,
                                               tmp_path):
    """Cached: a new token of the same workload (kubelet's rotation) reuses the login; a
    token naming another workload is exchanged (and here refused)."""
    iss = oidc_issuer
    tokfile = tmp_path / "token"
    tokfile.write_text(iss.mint(iss.github_claims("acme/app"), aud=regauthd.issuer,
                                lifetime=3600))
    env = dict(henv, REGAUTH_SERVER=regauthd.url, REGAUTH_ROLE=fed.app,
               REGAUTH_OIDC_TOKEN_FILE=str(tokfile))
    # github_claims() varies run_id and sha per call: one call is one workload (a job)
    job = iss.github_claims("acme/app")
    tokfile.write_text(iss.mint(job, aud=regauthd.issuer, lifetime=3600))
    log0 = regauthd.daemon.log_size()
    first = json.loads(get(env, registry.host).out)["Secret"]
    assert len(login_posts(regauthd, log0)) == 1
    tokfile.write_text(iss.mint(job, aud=regauthd.issuer, lifetime=3600))  # new iat, jti
    res = get(env, registry.host)
    assert json.loads(res.out)["Secret"] == first, res.err
    assert len(login_posts(regauthd, log0)) == 1, "a rotated token of one workload re-exchanged"
    # another job of the same repository: its own exchange
    tokfile.write_text(iss.mint(iss.github_claims("acme/app"), aud=regauthd.issuer))
    second = json.loads(get(env, registry.host).out)["Secret"]
    assert second != first and len(login_posts(regauthd, log0)) == 2
    tokfile.write_text(iss.mint(iss.github_claims("acme/other"), aud=regauthd.issuer))
    line = one_line_failure(get(env, registry.host))
    assert "refused this token" in line, line


def test_login_is_not_cached_past_the_oidc_token(henv, regauthd, registry, fed, oidc_issuer,
                                                 tmp_path):
    iss = oidc_issuer
    tokfile = tmp_path / "token"
    tokfile.write_text(iss.mint(iss.github_claims("acme/app"), aud=regauthd.issuer,
                                lifetime=240))
    env = dict(henv, REGAUTH_SERVER=regauthd.url, REGAUTH_ROLE=fed.app,
               REGAUTH_OIDC_TOKEN_FILE=str(tokfile))
    assert get(env, registry.host).returncode == 0
    entries = [json.loads(open(os.path.join(env["REGAUTH_CACHE_DIR"], n)).read())
               for n in os.listdir(env["REGAUTH_CACHE_DIR"]) if n.startswith("token-")]
    assert len(entries) == 1, entries
    oidc_exp = jwt.decode(tokfile.read_text(), options={"verify_signature": False})["exp"]
    assert entries[0]["exp"] == oidc_exp, (entries[0]["exp"], oidc_exp)
    assert str(tokfile) not in json.dumps(entries[0])  # the id is a hash, not the token
    assert tokfile.read_text().split(".")[2] not in json.dumps(entries[0])
    for n in os.listdir(env["REGAUTH_CACHE_DIR"]):
        assert os.stat(os.path.join(env["REGAUTH_CACHE_DIR"], n)).st_mode & 0o077 == 0


def test_gitlab_token_in_the_environment(henv, regauthd, registry, fed, oidc_issuer):
    iss = oidc_issuer
    env = dict(henv, REGAUTH_SERVER=regauthd.url, REGAUTH_ROLE=fed.app,
               REGAUTH_OIDC_TOKEN=iss.mint(iss.github_claims("acme/app"), aud=AUD2))
    res = get(env, registry.host)
    assert res.returncode == 0, res.out + res.err
    assert regauthd.verifier.login_token(json.loads(res.out)["Secret"])["sub"] == \
        fed.app_session
    assert env["REGAUTH_OIDC_TOKEN"].split(".")[2] not in res.err


def test_oidc_role_before_a_key_file_in_the_environment(henv, regauthd, registry, fed,
                                                        oidc_issuer, tmp_path):
    """Both REGAUTH_KEY_FILE and an OIDC token with a role in the environment: the role wins
    (a debug line says so). A key file in the environment wins over an OIDC token named
    only by the configuration file."""
    iss = oidc_issuer
    key = tmp_path / "key.json"  # a key that would fail if it were used
    key.write_text(json.dumps({"type": "regauth_service_account",
                               "principal": "serviceaccount/x", "key_id": "k1",
                               "server": regauthd.url, "issuer": regauthd.issuer,
                               "private_key": "-----BEGIN PRIVATE KEY-----\n"}))
    os.chmod(key, 0o600)
    tokfile = tmp_path / "token"
    tokfile.write_text(iss.mint(iss.github_claims("acme/app"), aud=regauthd.issuer))
    env = dict(henv, REGAUTH_SERVER=regauthd.url, REGAUTH_ROLE=fed.app,
               REGAUTH_KEY_FILE=str(key), REGAUTH_OIDC_TOKEN_FILE=str(tokfile))
    res = get(env, registry.host)
    assert res.returncode == 0, res.out + res.err
    assert regauthd.verifier.login_token(json.loads(res.out)["Secret"])["sub"] == \
        fed.app_session
    assert "trying the OIDC role first" in res.err, res.err
    # the token file named by the configuration file only: the key file comes first
    env.pop("REGAUTH_OIDC_TOKEN_FILE")
    with open(env["REGAUTH_CONFIG"], "w") as f:
        json.dump({"oidc_token_file": str(tokfile)}, f)
    line = one_line_failure(get(env, registry.host))
    assert str(key) in line, line


def test_configure_records_role_token_file_and_audience(henv, regauthd, registry, fed,
                                                        oidc_issuer, tmp_path):
    iss = oidc_issuer
    tokfile = tmp_path / "token"
    tokfile.write_text(iss.mint(iss.github_claims("acme/app"), aud=AUD2))
    res = helper(henv, "configure", "--registry", registry.host, "--server", regauthd.url,
                 "--role", fed.app, "--oidc-token-file", str(tokfile), "--audience", AUD2,
                 "--docker-config", tmp_path / "dk.json")
    assert res.returncode == 0, res.out + res.err
    cfg = json.loads(open(henv["REGAUTH_CONFIG"]).read())
    assert cfg["registries"][registry.host] == {
        "server": regauthd.url, "role": fed.app, "oidc_token_file": str(tokfile),
        "audience": AUD2}
    res = get(henv, registry.host)  # nothing in the environment
    assert res.returncode == 0, res.out + res.err
    assert regauthd.verifier.login_token(json.loads(res.out)["Secret"])["sub"] == \
        fed.app_session


# ---------------------------------------------------------------------------------------
# (c) the kubelet credential provider


def kubelet(env, request):
    body = request if isinstance(request, bytes) else json.dumps(request).encode()
    return helper(env, "kubelet", input=body)


def kube_request(image, api=V1, **extra):
    return dict({"apiVersion": api, "kind": "CredentialProviderRequest", "image": image},
                **extra)


def check_response(res, regauthd, host, api=V1, sa=False, oidc_exp=None):
    """Every field of a CredentialProviderResponse against the v1 API; the password."""
    assert res.returncode == 0, res.out + res.err
    t_now = int(time.time())
    assert res.out.endswith("\n") and res.out.count("\n") == 1, res.out
    obj = json.loads(res.out)
    keys = {"apiVersion", "kind", "cacheKeyType", "cacheDuration", "auth"}
    if sa:
        keys.add("serviceAccountTokenCacheType")
        assert obj["serviceAccountTokenCacheType"] == "ServiceAccount"
    assert set(obj) == keys, obj.keys()
    assert obj["apiVersion"] == api
    assert obj["kind"] == "CredentialProviderResponse"
    assert obj["cacheKeyType"] == "Registry"
    assert list(obj["auth"]) == [host], obj["auth"].keys()
    cred = obj["auth"][host]
    assert set(cred) == {"username", "password"} and cred["username"] == "regauth"
    claims = regauthd.verifier.login_token(cred["password"])
    m = re.fullmatch(r"(\d+)s", obj["cacheDuration"])
    assert m, obj["cacheDuration"]
    dur = int(m.group(1))
    left = claims["exp"] - t_now
    if oidc_exp is not None:
        left = min(left, oidc_exp - t_now)
    assert 0 < dur <= left, (dur, left)
    assert dur >= left - max(60, left // 10) - 5, (dur, left)  # "a little under"
    return cred["password"], claims, dur


def test_kubelet_token_file(henv, regauthd, registry, fed, oidc_issuer, oci_image,
                            skopeo_bin, tmp_path):
    iss = oidc_issuer
    tokfile = tmp_path / "kube-token"
    tokfile.write_text(iss.mint(iss.kube_claims("ci", "builder"), aud=regauthd.issuer,
                                lifetime=3600))
    env = dict(henv, REGAUTH_SERVER=regauthd.url, REGAUTH_ROLE=fed.kube,
               REGAUTH_OIDC_TOKEN_FILE=str(tokfile))
    oidc_exp = jwt.decode(tokfile.read_text(), options={"verify_signature": False})["exp"]
    res = kubelet(env, kube_request(f"{registry.host}/{K8S_REPO}:v1"))
    login, claims, dur = check_response(res, regauthd, registry.host, oidc_exp=oidc_exp)
    assert claims["sub"] == fed.kube_session
    assert dur > 3000  # an hour's token, a login token of an hour
    # the password at GET /token with Basic: the role's scopes and nothing else
    rc, access = registry_access(regauthd, "regauth", login,
                                 [f"repository:{K8S_REPO}:pull,push",
                                  "repository:team-a/app:pull"])
    assert rc["sub"] == fed.kube_session
    assert access == [repo(K8S_REPO, "pull", "push")], access
    # what the kubelet then does: pull (here push, then inspect) with username/password
    skopeo_push(skopeo_bin, env, oci_image, registry, f"{K8S_REPO}:v1",
                creds=f"regauth:{login}")
    res = S.run([skopeo_bin, "inspect", "--tls-verify=false", "--creds", f"regauth:{login}",
                 "--raw", f"docker://{registry.host}/{K8S_REPO}:v1"], env=env)
    assert json.loads(res.out)["layers"][0]["digest"] == oci_image["layer"]
    # the older API versions are answered in kind; a digest reference has the same key
    for api in ("credentialprovider.kubelet.k8s.io/v1beta1",
                "credentialprovider.kubelet.k8s.io/v1alpha1"):
        res = kubelet(env, kube_request(f"{registry.host}/{K8S_REPO}@sha256:" + "0" * 64,
                                        api=api))
        assert check_response(res, regauthd, registry.host, api=api,
                              oidc_exp=oidc_exp)[0] == login  # cached


def test_kubelet_discovers_the_server_and_caps_the_duration(henv, regauthd, registry, fed,
                                                            oidc_issuer, tmp_path):
    """No REGAUTH_SERVER: the registry's challenge names the token server (the kubelet's
    matchImages chose the registry). A token file near its end: a short cacheDuration."""
    iss = oidc_issuer
    tokfile = tmp_path / "kube-token"
    tokfile.write_text(iss.mint(iss.kube_claims("ci", "builder"), aud=regauthd.issuer,
                                lifetime=600))
    env = dict(henv, REGAUTH_ROLE=fed.kube, REGAUTH_OIDC_TOKEN_FILE=str(tokfile))
    res = kubelet(env, kube_request(f"{registry.host}/{K8S_REPO}:v1"))
    oidc_exp = jwt.decode(tokfile.read_text(), options={"verify_signature": False})["exp"]
    _, claims, dur = check_response(res, regauthd, registry.host, oidc_exp=oidc_exp)
    assert claims["sub"] == fed.kube_session
    assert dur <= 600 - 60, dur
    assert "realm" in res.err  # the debug trace of the discovery


def test_kubelet_service_account_token(henv, regauthd, registry, fed, oidc_issuer):
    iss = oidc_issuer
    sat = iss.mint(iss.kube_claims("ci", "builder"), aud=regauthd.issuer, lifetime=3600)
    env = dict(henv, REGAUTH_SERVER=regauthd.url, REGAUTH_ROLE=fed.kube)
    res = kubelet(env, kube_request(f"{registry.host}/{K8S_REPO}:v1", serviceAccountToken=sat,
                                    serviceAccountAnnotations={"a": "b"}))
    login, claims, _ = check_response(res, regauthd, registry.host, sa=True,
                                      oidc_exp=int(time.time()) + 3600)
    assert claims["sub"] == fed.kube_session
    _, access = registry_access(regauthd, "regauth", login, [f"repository:{K8S_REPO}:pull"])
    assert access == [repo(K8S_REPO, "pull")]
    assert sat.split(".")[2] not in res.err
    # not cached on disk: the kubelet caches per service account
    cache = env["REGAUTH_CACHE_DIR"]
    assert not os.path.isdir(cache) or not [n for n in os.listdir(cache) if "token-" in n]
    # a kubelet may run without HOME: no cache folder, still an answer
    bare = {k: v for k, v in env.items()
            if k not in ("HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "REGAUTH_CACHE_DIR",
                         "REGAUTH_CONFIG")}
    res = kubelet(bare, kube_request(f"{registry.host}/{K8S_REPO}:v1", serviceAccountToken=sat))
    check_response(res, regauthd, registry.host, sa=True, oidc_exp=int(time.time()) + 3600)
    # another namespace's token: refused, nothing on stdout
    other = iss.mint(iss.kube_claims("prod", "builder"), aud=regauthd.issuer)
    res = kubelet(env, kube_request(f"{registry.host}/{K8S_REPO}:v1",
                                    serviceAccountToken=other))
    assert (res.returncode, res.out) == (1, ""), res.out + res.err
    assert "refused this token" in res.err
    # a service-account token needs a role
    env.pop("REGAUTH_ROLE")
    res = kubelet(env, kube_request(f"{registry.host}/{K8S_REPO}:v1", serviceAccountToken=sat))
    assert (res.returncode, res.out) == (1, ""), res.out + res.err
    assert "REGAUTH_ROLE" in res.err


def test_kubelet_bad_input(henv, regauthd, registry, fed):
    env = dict(henv, REGAUTH_SERVER=regauthd.url, REGAUTH_ROLE=fed.kube)
    img = f"{registry.host}/{K8S_REPO}:v1"
    cases = {
        "not JSON": b"{",
        "not an object": b"[]",
        "trailing data": json.dumps(kube_request(img)).encode() + b" {}",
        "wrong kind": kube_request(img) | {"kind": "CredentialProviderResponse"},
        "unknown apiVersion": kube_request(img, api="credentialprovider.kubelet.k8s.io/v2"),
        "no image": {"apiVersion": V1, "kind": "CredentialProviderRequest"},
        "image not a string": kube_request(img) | {"image": 7},
        "token not a string": kube_request(img) | {"serviceAccountToken": ["x"]},
        "duplicate image": ('{"apiVersion":"%s","kind":"CredentialProviderRequest",'
                            '"image":"%s","image":"x"}' % (V1, img)).encode(),
        "bad registry name": kube_request("bad_host:port/app:v1"),
        "oversized": json.dumps(kube_request(img) | {"pad": "x" * (1024 * 1024)}).encode(),
        "no credential": kube_request("other.example:5000/app:v1"),
    }
    for what, req in cases.items():
        res = kubelet(dict(env, REGAUTH_LOG=""), req)
        assert (res.returncode, res.out) == (1, ""), (what, res.out, res.err)
        lines = res.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("docker-credential-regauth: kubelet: "), \
            (what, res.err)
    res = helper(env, "kubelet", "extra")
    assert res.returncode == 2 and res.out == "" and "usage:" in res.err
