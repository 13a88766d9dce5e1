"""Real clients against a real registry whose token realm is regauthd (behind the verifying
proxy): skopeo, podman, docker (dockerd 20.10) and containerd's ctr push and pull the small
image, are refused where the policy denies, and use refresh (identity) tokens."""

import base64
import json

import pytest

import support as S

REPO = "team-a/app"
DENIED = "requested access to the resource is denied"


def _b64(text):
    return base64.b64encode(text.encode()).decode()


def _token_posts(records, grant):
    return [r for r in records if r.method == "POST" and r.path == "/token"
            and r.form.get("grant_type") == [grant]]


def _log_has(regauthd, since, method, path, status):
    return [r for r in regauthd.log_records(since)
            if r.get("method") == method and r.get("path") == path and r.get("status") == status]


def _insufficient_scope(registry, since):
    return "insufficient scope" in registry.log_since(since)


def _assert_denied(res, registry, reg_off, what):
    assert res.returncode != 0, f"{what}: the push should have been refused\n{res.out}\n{res.err}"
    out = (res.out + res.err).lower()
    assert "denied" in out or "insufficient_scope" in out or "401 unauthorized" in out, \
        f"{what}: unexpected error text:\n{res.out}\n{res.err}"
    assert _insufficient_scope(registry, reg_off), \
        f"{what}: registry log shows no 'insufficient scope'"


def _manifest_digest_in(registry, regauthd, repo, tag, user="bob"):
    """The manifest digest the registry holds, read with a token fetched directly."""
    r = regauthd.token_get([("service", regauthd.service),
                            ("scope", f"repository:{repo}:pull")], user=user)
    claims = regauthd.verify_reply(r, "GET", [f"repository:{repo}:pull"])
    assert S.normalize_access(claims["access"]) == [
        {"type": "repository", "name": repo, "actions": ["pull"]}]
    resp = registry.request("HEAD", f"/v2/{repo}/manifests/{tag}", headers={
        "Authorization": f"Bearer {r.json()['token']}",
        "Accept": "application/vnd.oci.image.manifest.v1+json, "
                  "application/vnd.docker.distribution.manifest.v2+json"})
    assert resp.status == 200, resp
    return resp.headers["Docker-Content-Digest"]


# ---------------------------------------------------------------------------------------
# skopeo


class TestSkopeo:
    def test_push_and_pull_with_creds(self, regauthd, registry, token_proxy, oci_image,
                                      client_env, skopeo_bin, tmp_path):
        n0 = token_proxy.count()
        dest = f"docker://{registry.host}/{REPO}:skopeo"
        S.run([skopeo_bin, "copy", "--dest-tls-verify=false",
               "--dest-creds", f"alice:{regauthd.users['alice']}", oci_image["ref"], dest],
              env=client_env)
        gets = [r for r in token_proxy.records_since(n0)
                if r.method == "GET" and r.path == "/token" and r.status == 200]
        assert gets, "skopeo fetched no token from the realm"
        assert any(f"repository:{REPO}:" in s and "push" in s
                   for r in gets for s in r.query.get("scope", [])), gets
        subs = {S.jwt.decode(r.response["token"], options={"verify_signature": False})["sub"]
                for r in gets}
        assert subs == {"user/alice"}
        # bob (readonly) pulls it back; the layer arrives unchanged
        out = tmp_path / "pulled"
        S.run([skopeo_bin, "copy", "--src-tls-verify=false",
               "--src-creds", f"bob:{regauthd.users['bob']}", dest, f"oci:{out}:v1"],
              env=client_env)
        assert (out / "blobs" / "sha256" / oci_image["layer"].split(":")[1]).is_file()
        assert _manifest_digest_in(registry, regauthd, REPO, "skopeo") == oci_image["manifest"]

    def test_push_with_authfile(self, regauthd, registry, oci_image, client_env, skopeo_bin,
                                tmp_path):
        authfile = tmp_path / "my-auth.json"
        authfile.write_text(json.dumps({"auths": {registry.host: {
            "auth": _b64(f"alice:{regauthd.users['alice']}")}}}))
        dest = f"docker://{registry.host}/{REPO}:skopeo-authfile"
        S.run([skopeo_bin, "copy", "--authfile", authfile, "--dest-tls-verify=false",
               oci_image["ref"], dest], env=client_env)
        res = S.run([skopeo_bin, "inspect", "--authfile", authfile, "--tls-verify=false",
                     "--raw", dest], env=client_env)
        assert json.loads(res.out)["layers"][0]["digest"] == oci_image["layer"]

    def test_denied_push_to_frozen(self, regauthd, registry, oci_image, client_env,
                                   skopeo_bin):
        off = registry.log_size()
        res = S.run([skopeo_bin, "copy", "--dest-tls-verify=false",
                     "--dest-creds", f"alice:{regauthd.users['alice']}", oci_image["ref"],
                     f"docker://{registry.host}/team-a/frozen:nope"], env=client_env,
                    check=False)
        _assert_denied(res, registry, off, "alice -> team-a/frozen")
        assert DENIED in res.err, res.err

    def test_denied_push_readonly(self, regauthd, registry, oci_image, client_env, skopeo_bin):
        off = registry.log_size()
        res = S.run([skopeo_bin, "copy", "--dest-tls-verify=false",
                     "--dest-creds", f"bob:{regauthd.users['bob']}", oci_image["ref"],
                     f"docker://{registry.host}/{REPO}:bob"], env=client_env, check=False)
        _assert_denied(res, registry, off, "bob -> team-a/app")
        assert DENIED in res.err, res.err

    def test_bad_password_shows_server_message(self, regauthd, registry, oci_image, client_env,
                                               skopeo_bin, token_proxy):
        n0 = token_proxy.count()
        res = S.run([skopeo_bin, "copy", "--dest-tls-verify=false",
                     "--dest-creds", "erin:not-the-password", oci_image["ref"],
                     f"docker://{registry.host}/{REPO}:erin"], env=client_env, check=False)
        assert res.returncode != 0
        assert "invalid username/password" in res.err, res.err
        refused = [r for r in token_proxy.records_since(n0) if r.path == "/token"]
        assert refused and all(r.status == 401 for r in refused), refused

    def test_identity_token_flow(self, regauthd, registry, token_proxy, oci_image, client_env,
                                 skopeo_bin, tmp_path):
        refresh = regauthd.login_token("alice")
        claims = regauthd.verifier.login_token(refresh)
        assert claims["sub"] == "user/alice"
        authfile = tmp_path / "rt-auth.json"
        authfile.write_text(json.dumps({"auths": {registry.host: {
            "auth": _b64("<token>:"), "identitytoken": refresh}}}))
        n0, log0 = token_proxy.count(), regauthd.daemon.log_size()
        dest = f"docker://{registry.host}/{REPO}:skopeo-rt"
        S.run([skopeo_bin, "copy", "--authfile", authfile, "--dest-tls-verify=false",
               oci_image["ref"], dest], env=client_env)
        posts = _token_posts(token_proxy.records_since(n0), "refresh_token")
        assert posts, "skopeo did not use POST grant_type=refresh_token"
        for p in posts:
            assert p.chunked and "content-length" not in p.headers, \
                "the server must have been sent a chunked body (containers/image)"
            assert p.form.get("client_id") == ["containers/image"]
            assert p.status == 200, p
            sub = S.jwt.decode(p.response["access_token"],
                               options={"verify_signature": False})["sub"]
            assert sub == "user/alice"
        assert _log_has(regauthd, log0, "POST", "/token", 200), "regauthd logged no POST /token"
        assert _manifest_digest_in(registry, regauthd, REPO, "skopeo-rt") == oci_image["manifest"]


# ---------------------------------------------------------------------------------------
# podman


@pytest.fixture
def podman(podman_bin, client_env, tmp_path, tmp_path_factory):
    authfile = tmp_path / "podman-auth.json"
    env = dict(client_env, REGISTRY_AUTH_FILE=str(authfile))
    short = tmp_path_factory.mktemp("pm")  # podman refuses a runroot over 50 characters
    base = [podman_bin, "--root", short / "root", "--runroot", short / "run",
            "--storage-driver", "vfs", "--tmpdir", short / "tmp",
            "--events-backend", "none", "--cgroup-manager", "cgroupfs"]

    def pm(*args, check=True, input=None):
        return S.run([*base, *args], env=env, check=check, input=input, timeout=180)

    pm.authfile = authfile
    return pm


class TestPodman:
    def test_login_push_pull(self, regauthd, registry, podman, docker_archive, token_proxy):
        podman("load", "-i", docker_archive)
        n0 = token_proxy.count()
        podman("login", "--tls-verify=false", "--authfile", podman.authfile, "-u", "alice",
               "--password-stdin", registry.host,
               input=(regauthd.users["alice"] + "\n").encode())
        saved = json.loads(podman.authfile.read_text())
        assert registry.host in saved["auths"], saved
        assert any(r.path == "/token" and r.status == 200 for r in token_proxy.records_since(n0))
        ref = f"{registry.host}/{REPO}:podman"
        podman("tag", "docker.io/e2e/small:v1", ref)
        podman("push", "--tls-verify=false", "--authfile", podman.authfile, ref)
        podman("rmi", ref)
        podman("pull", "--tls-verify=false", "--authfile", podman.authfile, ref)
        podman("image", "exists", ref)
        pushed = _manifest_digest_in(registry, regauthd, REPO, "podman")
        assert pushed.startswith("sha256:")

    def test_denied_push(self, regauthd, registry, podman, docker_archive):
        podman("load", "-i", docker_archive)
        podman("login", "--tls-verify=false", "--authfile", podman.authfile, "-u", "alice",
               "--password-stdin", registry.host,
               input=(regauthd.users["alice"] + "\n").encode())
        ref = f"{registry.host}/team-a/frozen:podman"
        podman("tag", "docker.io/e2e/small:v1", ref)
        off = registry.log_size()
        res = podman("push", "--tls-verify=false", "--authfile", podman.authfile, ref,
                     check=False)
        _assert_denied(res, registry, off, "podman alice -> team-a/frozen")
        assert DENIED in res.err, res.err


# ---------------------------------------------------------------------------------------
# docker (CLI + dockerd 20.10)


@pytest.fixture
def docker(dockerd, client_env, tmp_path):
    cfg = tmp_path / "docker-config"
    cfg.mkdir(exist_ok=True)
    env = dockerd.env(cfg, {k: v for k, v in client_env.items() if k != "PATH"})

    def dk(*args, check=True, input=None):
        return dockerd.docker(*args, env=env, check=check, input=input)

    dk.config = cfg / "config.json"
    return dk


class TestDocker:
    def test_login_stores_identity_token_then_push_pull(self, regauthd, registry, docker,
                                                        token_proxy):
        n0 = token_proxy.count()
        res = docker("login", "-u", "alice", "--password-stdin", registry.host,
                     input=regauthd.users["alice"].encode())
        assert "Login Succeeded" in res.out, res.out + res.err
        logins = [r for r in token_proxy.records_since(n0)
                  if r.path == "/token" and r.query.get("offline_token") == ["true"]]
        assert logins and logins[-1].status == 200, logins
        assert logins[-1].query.get("client_id") == ["docker"]
        entry = json.loads(docker.config.read_text())["auths"][registry.host]
        assert entry.get("identitytoken"), f"no identitytoken stored: {entry}"
        assert regauthd.verifier.login_token(entry["identitytoken"])["sub"] == "user/alice"
        stored_auth = base64.b64decode(entry.get("auth", "")).decode() if entry.get("auth") else ""
        assert regauthd.users["alice"] not in stored_auth, "the password was stored"

        ref = f"{registry.host}/{REPO}:docker"
        docker("tag", "e2e/small:v1", ref)
        n1 = token_proxy.count()
        docker("push", ref)
        posts = _token_posts(token_proxy.records_since(n1), "refresh_token")
        assert posts and all(p.status == 200 for p in posts), posts
        assert {p.form.get("client_id", [""])[0] for p in posts} == {"docker"}, posts
        docker("rmi", ref)
        docker("pull", ref)
        docker("image", "inspect", ref)
        assert _manifest_digest_in(registry, regauthd, REPO, "docker").startswith("sha256:")

    def test_denied_push(self, regauthd, registry, docker):
        docker("login", "-u", "bob", "--password-stdin", registry.host,
               input=regauthd.users["bob"].encode())
        ref = f"{registry.host}/{REPO}:docker-bob"
        docker("tag", "e2e/small:v1", ref)
        off = registry.log_size()
        res = docker("push", ref, check=False)
        _assert_denied(res, registry, off, "docker bob -> team-a/app")
        assert "denied" in (res.out + res.err), res.out + res.err

    def test_login_wrong_password_refused(self, regauthd, registry, docker):
        res = docker("login", "-u", "erin", "--password-stdin", registry.host,
                     input=b"wrong-password", check=False)
        assert res.returncode != 0
        assert not docker.config.exists() or \
            registry.host not in json.loads(docker.config.read_text()).get("auths", {})


# ---------------------------------------------------------------------------------------
# containerd (ctr)


class TestCtr:
    def test_push_pull_password_grant(self, regauthd, registry, containerd, docker_archive,
                                      token_proxy):
        containerd.ctr("images", "import", docker_archive)
        ref = f"{registry.host}/{REPO}:ctr"
        containerd.ctr("images", "tag", "--force", "docker.io/e2e/small:v1", ref)
        n0, log0 = token_proxy.count(), regauthd.daemon.log_size()
        containerd.ctr("images", "push", "--plain-http", "--user",
                       f"alice:{regauthd.users['alice']}", ref)
        posts = _token_posts(token_proxy.records_since(n0), "password")
        assert posts, "containerd did not POST grant_type=password"
        assert all(p.status == 200 for p in posts), posts
        assert posts[0].form.get("client_id") == ["containerd-client"]
        assert _log_has(regauthd, log0, "POST", "/token", 200), "regauthd logged no POST /token"
        assert _manifest_digest_in(registry, regauthd, REPO, "ctr").startswith("sha256:")
        containerd.ctr("images", "rm", ref)
        containerd.ctr("images", "pull", "--plain-http", "--user",
                       f"bob:{regauthd.users['bob']}", ref)
        listed = containerd.ctr("images", "ls", "-q").out.split()
        assert ref in listed

    def test_pull_with_refresh_token(self, regauthd, registry, containerd, docker_archive,
                                     token_proxy):
        containerd.ctr("images", "import", docker_archive)
        ref = f"{registry.host}/{REPO}:ctr-rt"
        containerd.ctr("images", "tag", "--force", "docker.io/e2e/small:v1", ref)
        containerd.ctr("images", "push", "--plain-http", "--user",
                       f"alice:{regauthd.users['alice']}", ref)
        containerd.ctr("images", "rm", ref)
        refresh = regauthd.login_token("bob")
        n0 = token_proxy.count()
        containerd.ctr("images", "pull", "--plain-http", "--refresh", refresh, ref)
        posts = _token_posts(token_proxy.records_since(n0), "refresh_token")
        assert posts and all(p.status == 200 for p in posts), token_proxy.records_since(n0)
        for p in posts:
            sub = S.jwt.decode(p.response["access_token"],
                               options={"verify_signature": False})["sub"]
            assert sub == "user/bob"

    def test_denied_push(self, regauthd, registry, containerd, docker_archive):
        containerd.ctr("images", "import", docker_archive)
        ref = f"{registry.host}/team-a/frozen:ctr"
        containerd.ctr("images", "tag", "--force", "docker.io/e2e/small:v1", ref)
        off = registry.log_size()
        res = containerd.ctr("images", "push", "--plain-http", "--user",
                             f"alice:{regauthd.users['alice']}", ref, check=False)
        _assert_denied(res, registry, off, "ctr alice -> team-a/frozen")
