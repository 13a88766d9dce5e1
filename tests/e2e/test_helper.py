"""docker-credential-regauth end to end: the credential-helper protocol driven by the helper's
own tests, by Debian's python3-dockerpycreds, by skopeo, podman and docker (dockerd 20.10),
against the session's real regauthd and registry. Every helper's state (cache, config, client
auth files) lives in the test's tmp folder."""

import concurrent.futures
import json
import os
import stat
import subprocess

import pytest

import support as S

HELPER = S.REPO_ROOT / "bin" / "docker-credential-regauth"
BIN_DIR = HELPER.parent
NOT_FOUND = "credentials not found in native keychain"
REPO = "team-a/app"


@pytest.fixture
def henv(client_env, tmp_path):
    """client_env plus the helper on PATH and its cache/config in tmp_path."""
    if not os.access(HELPER, os.X_OK):
        pytest.fail(f"{HELPER} is missing: run `make` first", pytrace=False)
    env = dict(client_env)
    env["PATH"] = f"{BIN_DIR}:{env['PATH']}"
    env["REGAUTH_CACHE_DIR"] = str(tmp_path / "regauth-cache")
    env["REGAUTH_CONFIG"] = str(tmp_path / "regauth-config.json")
    env["REGAUTH_LOG"] = "debug"
    for k in ("REGAUTH_SERVER", "REGAUTH_KEY_FILE", "REGAUTH_NO_CACHE"):
        env.pop(k, None)
    return env


def helper(env, *args, input=b"", check=False, timeout=60):
    return S.run([str(HELPER), *args], input=input, env=env, check=check, timeout=timeout)


def get(env, server):
    return helper(env, "get", input=server.encode())


def store(env, server, user, secret):
    return helper(env, "store", input=json.dumps(
        {"ServerURL": server, "Username": user, "Secret": secret}).encode())


def files_under(*dirs):
    for d in dirs:
        if os.path.isdir(d):
            for root, _, names in os.walk(d):
                for n in names:
                    yield os.path.join(root, n)


def assert_never_written(secret, *dirs):
    for path in files_under(*dirs):
        with open(path, "rb") as f:
            assert secret.encode() not in f.read(), f"{path} holds the password"


def login_posts(regauthd, since):
    return [r for r in regauthd.log_records(since)
            if r.get("method") == "POST" and r.get("path") == "/v1/login"]


def sa_create_available(regauthd):
    res = S.run([regauthd.bin, "sa"], check=False, timeout=10)
    return "sa create" in (res.out + res.err)


_SA = {}


@pytest.fixture
def sa_key(regauthd, tmp_path):
    """A service account allowed to push team-a/*, and its key file (0600)."""
    if not sa_create_available(regauthd):
        pytest.skip("regauthd sa create is not available yet (service accounts in progress)")
    if "key" not in _SA:
        key = regauthd.base / "sa-ci.json"
        regauthd.cli("sa", "create", "-c", regauthd.dir, "helper-ci", "--policy", "team-a-dev",
                     "--key-out", key)
        regauthd.reload()
        S.wait_until(regauthd.healthy, 10, "regauthd after SIGHUP")
        _SA["key"] = key
    key = _SA["key"]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    return key


# ---------------------------------------------------------------------------------------
# the protocol, without a server


def test_version_and_usage(henv):
    res = helper(henv, "version", check=True)
    assert res.out == "docker-credential-regauth (regauth) 0.1.0\n"
    res = helper(henv, "bogus")
    assert res.returncode == 1 and res.out.startswith("usage:")


def test_unknown_registry_is_not_found(henv):
    res = get(henv, "unknown.invalid:5000")
    assert res.returncode == 1
    assert res.out == NOT_FOUND + "\n"
    res = helper(henv, "get", input=b"")
    assert (res.returncode, res.out.strip()) == (1, "no credentials server URL")


def test_store_identity_token_as_is_and_normalized_lookups(henv, regauthd, tmp_path):
    tok = regauthd.login_token("bob")
    # docker sends "<token>" escaped as \u003ctoken\u003e
    body = ('{"ServerURL":"https://Reg.Example.COM:443/v2/","Username":"\\u003ctoken\\u003e",'
            '"Secret":"%s"}' % tok)
    res = helper(henv, "store", input=body.encode())
    assert res.returncode == 0, res.out + res.err
    for form in ("reg.example.com", "reg.example.com:443", "https://reg.example.com",
                 "http://reg.example.com:443", "https://reg.example.com:443/v1/"):
        res = get(henv, form)
        assert res.returncode == 0, (form, res.out, res.err)
        obj = json.loads(res.out)
        assert obj == {"ServerURL": form, "Username": "<token>", "Secret": tok}
    assert get(henv, "reg.example.com:5000").out == NOT_FOUND + "\n"
    # Docker Hub's names are one entry
    store(henv, "https://index.docker.io/v1/", "<token>", tok)
    for form in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        assert json.loads(get(henv, form).out)["Secret"] == tok
    cache = tmp_path / "regauth-cache"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    for p in files_under(cache):
        assert stat.S_IMODE(os.stat(p).st_mode) == 0o600, p


# ---------------------------------------------------------------------------------------
# password paths against the real server


def test_store_password_keeps_only_a_login_token(henv, regauthd, registry, tmp_path):
    log0 = regauthd.daemon.log_size()
    pw = regauthd.users["alice"]
    res = store(henv, registry.host, "alice", pw)
    assert res.returncode == 0, res.out + res.err
    assert pw not in res.err
    posts = login_posts(regauthd, log0)
    assert [p.get("status") for p in posts] == [200], posts
    res = get(henv, registry.host)
    assert res.returncode == 0, res.out + res.err
    obj = json.loads(res.out)
    assert obj["ServerURL"] == registry.host and obj["Username"] == "<token>"
    claims = regauthd.verifier.login_token(obj["Secret"])
    assert claims["sub"] == "user/alice"
    assert_never_written(pw, tmp_path)
    # other spellings of the same registry
    assert json.loads(get(henv, f"http://{registry.host}/").out)["Secret"] == obj["Secret"]


def test_store_wrong_password_fails_with_one_line(henv, regauthd, registry):
    res = store(henv, registry.host, "erin", "not-the-password")
    assert res.returncode == 1
    lines = res.out.strip().splitlines()
    assert len(lines) == 1 and "refused" in lines[0], res.out
    assert get(henv, registry.host).out == NOT_FOUND + "\n"


def test_unreachable_server_is_a_real_failure(henv, registry, free_port):
    env = dict(henv, REGAUTH_SERVER=f"http://127.0.0.1:{free_port()}")
    res = store(env, registry.host, "alice", "whatever")
    assert res.returncode == 1
    assert "cannot reach the token server" in res.out and len(res.out.strip().splitlines()) == 1
    assert "retrying once" in res.err


def test_list_and_erase(henv, regauthd, registry):
    assert helper(henv, "list", input=b"unused").out.strip() == "{}"
    store(henv, registry.host, "alice", regauthd.users["alice"])
    store(henv, "other.example:5000", "<token>", regauthd.login_token("bob"))
    listed = json.loads(helper(henv, "list", input=b"unused", check=True).out)
    assert listed == {registry.host: "alice", "other.example:5000": "<token>"}
    res = helper(henv, "erase", input=f"http://{registry.host}/".encode())
    assert res.returncode == 0, res.out
    assert get(henv, registry.host).out == NOT_FOUND + "\n"
    assert json.loads(helper(henv, "list", input=b"unused").out) == {
        "other.example:5000": "<token>"}
    res = helper(henv, "erase", input=registry.host.encode())
    assert (res.returncode, res.out) == (1, NOT_FOUND + "\n")


def test_dockerpycreds_drives_the_helper(henv, regauthd, registry, tmp_path, monkeypatch):
    """Debian's python3-dockerpycreds as an independent client of the protocol."""
    import dockerpycreds
    monkeypatch.setenv("PATH", henv["PATH"])  # it finds the program on its own PATH
    store_ = dockerpycreds.Store("regauth", environment=henv)
    pw = regauthd.users["bob"]
    store_.store(registry.host, "bob", pw)
    got = store_.get(registry.host)
    assert got["Username"] == "<token>"
    assert regauthd.verifier.login_token(got["Secret"])["sub"] == "user/bob"
    assert_never_written(pw, tmp_path)
    store_.erase(registry.host)
    with pytest.raises(dockerpycreds.CredentialsNotFound):
        store_.get(registry.host)


def test_login_logout_commands(henv, regauthd, registry, tmp_path):
    res = helper(henv, "login", registry.host, "--username", "alice", "--password-stdin",
                 input=(regauthd.users["alice"] + "\n").encode())
    assert res.returncode == 0, res.out + res.err
    assert "Login Succeeded" in res.out
    tok = json.loads(get(henv, registry.host).out)["Secret"]
    assert regauthd.verifier.login_token(tok)["sub"] == "user/alice"
    assert_never_written(regauthd.users["alice"], tmp_path)
    res = helper(henv, "login", registry.host, "--username", "erin", "--password-stdin",
                 input=b"wrong\n")
    assert res.returncode == 1 and "login failed" in res.err
    assert helper(henv, "logout", registry.host).returncode == 0
    assert get(henv, registry.host).out == NOT_FOUND + "\n"
    assert helper(henv, "logout", registry.host).returncode == 1


def test_configure_adds_cred_helpers_and_keeps_the_rest(henv, tmp_path):
    dcfg = tmp_path / "docker-config" / "config.json"
    dcfg.write_text(json.dumps({"auths": {"x.example": {}}, "credHelpers": {"a.example": "ecr"},
                                "psFormat": "table"}))
    res = helper(henv, "configure", "--registry", "https://Reg.Example:443",
                 "--registry", "127.0.0.1:5000", "--server", "https://regauth.example",
                 "--docker-config", dcfg)
    assert res.returncode == 0, res.out + res.err
    d = json.loads(dcfg.read_text())
    assert d["credHelpers"] == {"a.example": "ecr", "reg.example": "regauth",
                                "127.0.0.1:5000": "regauth"}
    assert d["auths"] == {"x.example": {}} and d["psFormat"] == "table"
    a = json.loads((tmp_path / "auth.json").read_text())  # REGISTRY_AUTH_FILE
    assert a["credHelpers"]["127.0.0.1:5000"] == "regauth"
    cfg = json.loads((tmp_path / "regauth-config.json").read_text())
    assert cfg["registries"]["reg.example"]["server"] == "https://regauth.example"


# ---------------------------------------------------------------------------------------
# real clients, password paths


def test_skopeo_login_and_push_through_cred_helpers(henv, regauthd, registry, oci_image,
                                                     skopeo_bin, tmp_path, token_proxy):
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"credHelpers": {registry.host: "regauth"}}))
    pw = regauthd.users["alice"]
    S.run([skopeo_bin, "login", "--tls-verify=false", "--authfile", authfile, "-u", "alice",
           "--password-stdin", registry.host], input=(pw + "\n").encode(), env=henv)
    assert "auths" not in json.loads(authfile.read_text()) or \
        registry.host not in json.loads(authfile.read_text())["auths"]
    assert_never_written(pw, tmp_path)
    n0 = token_proxy.count()
    S.run([skopeo_bin, "copy", "--authfile", authfile, "--dest-tls-verify=false",
           oci_image["ref"], f"docker://{registry.host}/{REPO}:helper-login"], env=henv)
    posts = [r for r in token_proxy.records_since(n0)
             if r.path == "/token" and r.method == "POST" and r.status == 200]
    assert posts, "skopeo did not use the helper's login token as an identity token"


def test_docker_login_with_creds_store_keeps_a_token(dockerd, henv, regauthd, registry,
                                                     tmp_path):
    cfg_dir = tmp_path / "dk-config"
    cfg_dir.mkdir()
    (cfg_dir / "config.json").write_text(json.dumps({"credsStore": "regauth"}))
    env = dockerd.env(cfg_dir, {k: v for k, v in henv.items() if k != "PATH"})
    env["PATH"] = f"{dockerd.cli_path}:{BIN_DIR}:/usr/bin:/bin"
    pw = regauthd.users["alice"]
    res = dockerd.docker("login", "-u", "alice", "--password-stdin", registry.host,
                         input=pw.encode(), env=env)
    assert "Login Succeeded" in res.out, res.out + res.err
    saved = json.loads((cfg_dir / "config.json").read_text())
    assert saved["auths"].get(registry.host) == {}, saved
    res = get(henv, registry.host)
    assert res.returncode == 0, res.out + res.err
    assert regauthd.verifier.login_token(json.loads(res.out)["Secret"])["sub"] == "user/alice"
    assert_never_written(pw, tmp_path)
    ref = f"{registry.host}/{REPO}:helper-docker"
    dockerd.docker("tag", "e2e/small:v1", ref, env=env)
    dockerd.docker("push", ref, env=env)


# ---------------------------------------------------------------------------------------
# service-account keys


def write_fake_key(path, mode):
    path.write_text(json.dumps({"type": "regauth_service_account",
                                "principal": "serviceaccount/x", "key_id": "k1",
                                "server": "http://127.0.0.1:1", "issuer": "i",
                                "private_key": "-----BEGIN PRIVATE KEY-----\n"}))
    os.chmod(path, mode)


def test_key_file_readable_by_others_is_refused(henv, tmp_path):
    key = tmp_path / "key.json"
    write_fake_key(key, 0o644)
    res = get(dict(henv, REGAUTH_KEY_FILE=str(key)), "127.0.0.1:5000")
    assert res.returncode == 1
    lines = res.out.strip().splitlines()
    assert len(lines) == 1 and str(key) in lines[0] and "0644" in lines[0], res.out


def test_skopeo_and_podman_with_key_file(henv, regauthd, registry, sa_key, oci_image,
                                         skopeo_bin, podman_bin, docker_archive, tmp_path,
                                         tmp_path_factory):
    env = dict(henv, REGAUTH_KEY_FILE=str(sa_key))
    env.pop("REGISTRY_AUTH_FILE")
    dcfg = tmp_path / "docker-config"
    (dcfg / "config.json").write_text(json.dumps({"credHelpers": {registry.host: "regauth"}}))
    log0 = regauthd.daemon.log_size()
    dest = f"docker://{registry.host}/{REPO}:helper-sa"
    S.run([skopeo_bin, "copy", "--dest-tls-verify=false", oci_image["ref"], dest], env=env)
    res = S.run([skopeo_bin, "inspect", "--tls-verify=false", "--raw", dest], env=env)
    assert json.loads(res.out)["layers"][0]["digest"] == oci_image["layer"]
    posts = login_posts(regauthd, log0)
    assert posts and all(p.get("status") == 200 for p in posts), posts
    assert {p.get("principal") for p in posts} <= {"serviceaccount/helper-ci", None}
    # podman, through an auth.json with credHelpers
    authfile = tmp_path / "podman-auth.json"
    authfile.write_text(json.dumps({"credHelpers": {registry.host: "regauth"}}))
    short = tmp_path_factory.mktemp("pmh")
    base = [podman_bin, "--root", short / "root", "--runroot", short / "run",
            "--storage-driver", "vfs", "--tmpdir", short / "tmp", "--events-backend", "none",
            "--cgroup-manager", "cgroupfs"]
    S.run([*base, "load", "-i", docker_archive], env=env, timeout=180)
    ref = f"{registry.host}/{REPO}:helper-podman"
    S.run([*base, "tag", "docker.io/e2e/small:v1", ref], env=env)
    S.run([*base, "push", "--tls-verify=false", "--authfile", authfile, ref], env=env,
          timeout=180)
    S.run([*base, "rmi", ref], env=env)
    S.run([*base, "pull", "--tls-verify=false", "--authfile", authfile, ref], env=env,
          timeout=180)
    # one exchange served every call of both clients (the cache)
    assert len(login_posts(regauthd, log0)) == 1


def test_twenty_parallel_gets_make_one_login(henv, regauthd, registry, sa_key):
    env = dict(henv, REGAUTH_KEY_FILE=str(sa_key))
    env.pop("REGAUTH_LOG")
    log0 = regauthd.daemon.log_size()

    def one(_):
        return subprocess.run([str(HELPER), "get"], input=registry.host.encode(), env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))
    secrets_ = set()
    for r in results:
        S.LOGS.add_text("stderr of a parallel `docker-credential-regauth get`", r.stderr)
        assert r.returncode == 0, r.stdout + r.stderr
        secrets_.add(json.loads(r.stdout)["Secret"])
    assert len(secrets_) == 1
    claims = regauthd.verifier.login_token(secrets_.pop())
    assert claims["sub"] == "serviceaccount/helper-ci"
    assert len(login_posts(regauthd, log0)) == 1


def test_no_cache_exchanges_every_time(henv, regauthd, registry, sa_key, tmp_path):
    env = dict(henv, REGAUTH_KEY_FILE=str(sa_key), REGAUTH_NO_CACHE="1")
    log0 = regauthd.daemon.log_size()
    for _ in range(2):
        assert get(env, registry.host).returncode == 0
    assert len(login_posts(regauthd, log0)) == 2
    assert not [p for p in files_under(tmp_path / "regauth-cache") if "token-" in p]
