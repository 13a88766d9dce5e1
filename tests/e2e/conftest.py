"""Fixtures of the end-to-end suite: regauthd, a real registry (docker-registry 2.8), a
token-verifying proxy between them, containerd, dockerd, and a small OCI image.

Slow daemons start once per session. Every process is stopped by its PID at teardown, even
after a failure; on a failing test the logs written during it are attached to the report.
All client state lives under pytest's temporary folders.
"""

import atexit
import json
import os
import secrets
import signal
import sys
import urllib.parse
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import support as S  # noqa: E402
import oidc_issuer  # noqa: E402

atexit.register(S.stop_leftovers)
S.watch_oidc_issuer(oidc_issuer.OidcIssuer)  # its tokens, keys and runner token are secrets

ALICE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Action": ["registry:Pull", "registry:Push"],
         "Resource": "repository/team-a/*"},
        {"Effect": "Deny", "Action": "registry:Push", "Resource": "repository/team-a/frozen"},
    ],
}

# user -> policies. erin (client tests) and fred (API tests) exist to collect wrong
# passwords: regauthd locks a user's password logins after 10 failures in a minute.
USERS = {
    "alice": ["team-a-dev"],
    "bob": ["readonly"],
    "carol": ["admin"],
    "dave": [],
    "erin": ["readonly"],
    "fred": ["readonly"],
    "gina": ["readonly"],
}


# ---------------------------------------------------------------------------------------
# reporting: logs of the daemons on failure, token verification per test and per session


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    offsets = getattr(item, "_e2e_offsets", {})
    for pid, daemon in list(S._LIVE.items()):
        text = daemon.log_text(offsets.get(pid, 0)) if daemon.log_path.exists() else ""
        if text:
            rep.sections.append((f"{daemon.name} log (during this test)", text[-30000:]))
    proxy = getattr(item.session, "_e2e_proxy", None)
    if proxy is not None:
        recs = [r for r in proxy.records_since(0) if r.test == item.nodeid]
        if recs:
            rep.sections.append(("token proxy requests", "\n".join(map(repr, recs))[-20000:]))


@pytest.fixture(autouse=True)
def _e2e_accounting(request):
    """Attribute every relayed/verified token to the running test; a token that fails
    verification, or a test that fetched tokens none of which verified, fails the test."""
    S.LEDGER.current = request.node.nodeid
    request.node._e2e_offsets = {pid: d.log_size() for pid, d in S._LIVE.items()}
    yield
    fetched, verified, failures = S.LEDGER.snapshot(request.node.nodeid)
    S.LEDGER.current = "(between tests)"
    if failures:
        pytest.fail("token verification failed:\n  " + "\n  ".join(failures), pytrace=False)
    if fetched and not verified:
        pytest.fail(f"{fetched} token answers but no token verified", pytrace=False)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    led = S.LEDGER
    tests = [t for t, n in led.fetched.items() if n]
    terminalreporter.write_line(
        f"regauth e2e: {sum(led.verified.values())} tokens verified independently "
        f"(PyJWT + cryptography) across {len(tests)} tests; "
        f"{len(led.failures)} verification failures")
    for t, msg in led.failures:
        terminalreporter.write_line(f"  TOKEN FAILURE in {t}: {msg}", red=True)
    scan = getattr(config, "_e2e_secret_scan", None)
    if scan is not None:
        terminalreporter.write_line(scan.summary(), red=bool(scan.hits))
        terminalreporter.write_line(scan.details())
        for line in scan.report_lines()[:200]:
            terminalreporter.write_line("  " + line, red=True)
        if len(scan.hits) > 200:
            terminalreporter.write_line(f"  ... and {len(scan.hits) - 200} more", red=True)
    for msg in S.BOOKKEEPING_ERRORS[:20]:
        terminalreporter.write_line(f"  secret bookkeeping error (not fatal): {msg}")


def pytest_sessionfinish(session, exitstatus):
    # Every log of the session (daemons, audit files, the stderr of each regauthd and
    # docker-credential-regauth run) against every password, token and key used: a secret
    # found fails the run, named by log, line, kind and digest, never printed.
    try:
        scan = S.scan_logs()
    except Exception as exc:  # noqa: BLE001 - a scan that cannot run fails the run
        S.BOOKKEEPING_ERRORS.insert(0, f"the secret scan failed: {exc!r}")
        scan = None
    session.config._e2e_secret_scan = scan
    if (scan is None or scan.hits) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    led = S.LEDGER
    bad = list(led.failures)
    bad += [(t, "fetched tokens but none verified") for t, n in led.fetched.items()
            if n and not led.verified.get(t)]
    if bad and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# ---------------------------------------------------------------------------------------
# basics


@pytest.fixture(scope="session")
def free_port():
    """free_port() -> an unused TCP port on 127.0.0.1."""
    return S.free_port


@pytest.fixture(scope="session")
def token_proxy(request):
    proxy = S.TokenProxy(upstream_port=S.free_port())
    request.session._e2e_proxy = proxy
    try:
        yield proxy
    finally:
        proxy.close()


class Regauthd:
    """A running `regauthd serve` with the e2e configuration."""

    def __init__(self, base, proxy):
        self.bin = S.need_regauthd()
        self.base = Path(base)
        self.dir = self.base / "regauth"
        self.port = proxy.upstream_port
        self.proxy_source = proxy.upstream_source  # trusted to send X-Forwarded-For
        self.url = f"http://127.0.0.1:{self.port}"
        self.realm = f"{proxy.url}/token"
        self.service = S.SERVICE
        self.issuer = S.ISSUER
        self.users = {}
        self.daemon = None
        self.source = None  # local address direct requests come from (None: 127.0.0.1)

    def reload(self):
        """SIGHUP the server (by PID): it re-reads the configuration directory."""
        os.kill(self.daemon.pid, signal.SIGHUP)

    def cli(self, *args, input=None, check=True):
        return S.run([self.bin, *map(str, args)], input=input, check=check, timeout=60)

    def setup(self):
        self.cli("init", self.dir, "--service", self.service, "--issuer", self.issuer,
                 "--realm", self.realm)
        settings_file = self.dir / "regauthd.json"
        settings = json.loads(settings_file.read_text())
        settings["trusted_proxies"] = [self.proxy_source]
        settings_file.write_text(json.dumps(settings))
        (self.dir / "policies" / "team-a-dev.json").write_text(json.dumps(ALICE_POLICY))
        for name, policies in USERS.items():
            pw = secrets.token_hex(16)
            if name == "gina":  # a colon (Basic splits at the first one) and non-ASCII
                pw = f"p:w:{pw}-\u00e9\u00df"
            args = ["user", "add", "-c", self.dir, name, "--password-stdin"]
            for p in policies:
                args += ["--policy", p]
            self.cli(*args, input=(pw + "\n").encode())
            self.users[name] = pw
        self.bundle_pem = (self.dir / "keys" / "bundle.pem").read_bytes()
        self.verifier = S.TokenVerifier(self.bundle_pem, self.issuer, (self.service,))
        self.daemon = S.Daemon("regauthd", [self.bin, "serve", "-c", self.dir, "--listen",
                                            f"127.0.0.1:{self.port}"],
                               self.base / "regauthd.log")
        S.wait_until(self.healthy, 20, "regauthd /healthz", self.daemon)

    def healthy(self):
        r = S.http_request(self.port, "GET", "/healthz", timeout=5, source=self.source)
        return r.status == 200 and r.body.strip() == b"ok"

    def alive(self):
        return self.daemon.poll() is None

    # --- HTTP

    def request(self, method, path, **kw):
        kw.setdefault("source", self.source)
        return S.http_request(self.port, method, path, **kw)

    def token_get(self, params=(), user=None, password=None, headers=None):
        """GET /token. params: list of (key, value). user with no password: that user's
        password. Returns the Reply."""
        hdrs = dict(headers or {})
        if user is not None:
            hdrs["Authorization"] = S.basic(user, password if password is not None
                                            else self.users[user])
        q = urllib.parse.urlencode(list(params))
        return self.request("GET", "/token" + (f"?{q}" if q else ""), headers=hdrs)

    def token_post(self, form=(), headers=None, content_type="application/x-www-form-urlencoded"):
        hdrs = {"Content-Type": content_type}
        hdrs.update(headers or {})
        body = urllib.parse.urlencode(list(form)).encode()
        return self.request("POST", "/token", headers=hdrs, body=body)

    def verify_reply(self, reply, method, scopes, service=None):
        """Verify a 200 /token answer independently (and account it to the test)."""
        assert reply.status == 200, reply
        try:
            n, claims = self.verifier.token_response(reply.json(), method=method,
                                                     scopes=scopes, service=service)
        except Exception as exc:
            S.LEDGER.record(fetched=1, failure=f"direct {method} /token: {exc}")
            raise
        S.LEDGER.record(fetched=1, verified=n)
        return claims

    def login_token(self, user):
        """A refresh (login) token for user, from GET /token?offline_token=true."""
        r = self.token_get([("service", self.service), ("offline_token", "true"),
                            ("client_id", "e2e")], user=user)
        self.verify_reply(r, "GET", [])
        rt = r.json().get("refresh_token")
        assert rt, f"offline_token=true gave no refresh_token: {r.json().keys()}"
        return rt

    # --- log

    def log_records(self, since=0):
        out = []
        for line in self.daemon.log_text(since).splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def stop(self):
        if self.daemon is not None:
            return self.daemon.stop()
        return None


@pytest.fixture(scope="session")
def regauthd(tmp_path_factory, token_proxy):
    srv = Regauthd(tmp_path_factory.mktemp("regauthd"), token_proxy)
    try:
        srv.setup()
        token_proxy.verifier = srv.verifier
        yield srv
    finally:
        rc = srv.stop()
    assert rc == 0, f"regauthd did not exit 0 on SIGTERM (status {rc})"


REGISTRY_CONFIG = """\
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: {storage}
http:
  addr: 127.0.0.1:{port}
  secret: {secret}
auth:
  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    rootcertbundle: {bundle}
"""


class Registry:
    def __init__(self, base, realm, service, issuer, bundle):
        self.base = Path(base)
        self.port = S.free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self.config = self.base / "config.yml"
        self.config.write_text(REGISTRY_CONFIG.format(
            storage=self.base / "storage", port=self.port, secret=secrets.token_hex(16),
            realm=realm, service=service, issuer=issuer, bundle=bundle))
        self.daemon = S.Daemon("docker-registry",
                               [S.need_binary("docker-registry"), "serve", self.config],
                               self.base / "registry.log")
        S.wait_until(lambda: S.http_request(self.port, "GET", "/v2/", timeout=5).status == 401,
                     20, "registry /v2/ to answer 401", self.daemon)

    def log_size(self):
        return self.daemon.log_size()

    def log_since(self, offset):
        return self.daemon.log_text(offset)

    def request(self, method, path, **kw):
        return S.http_request(self.port, method, path, **kw)


@pytest.fixture(scope="session")
def registry(tmp_path_factory, regauthd):
    reg = Registry(tmp_path_factory.mktemp("registry"), regauthd.realm, regauthd.service,
                   regauthd.issuer, regauthd.dir / "keys" / "bundle.pem")
    try:
        yield reg
    finally:
        reg.daemon.stop()


# ---------------------------------------------------------------------------------------
# the image


@pytest.fixture(scope="session")
def oci_image(tmp_path_factory):
    """A small OCI layout on disk: use as f"oci:{img['dir']}:{img['tag']}"."""
    d = tmp_path_factory.mktemp("oci") / "layout"
    img = S.build_oci_layout(d, tag="v1")
    img["ref"] = f"oci:{d}:v1"
    return img


@pytest.fixture(scope="session")
def docker_archive(tmp_path_factory, oci_image):
    """The same image as a docker-archive tar (for `docker load` and `ctr images import`)."""
    out = tmp_path_factory.mktemp("archive") / "small.tar"
    S.run([S.need_binary("skopeo"), "copy", "--quiet", oci_image["ref"],
           f"docker-archive:{out}:e2e/small:v1"], timeout=60)
    return out


# ---------------------------------------------------------------------------------------
# client environments


@pytest.fixture
def client_env(tmp_path):
    """Environment for a client with every piece of its state under tmp_path."""
    home = tmp_path / "home"
    (home / ".config").mkdir(parents=True)
    run_dir = tmp_path / "xdg-run"
    run_dir.mkdir(mode=0o700)
    docker_cfg = tmp_path / "docker-config"
    docker_cfg.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(run_dir),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "DOCKER_CONFIG": str(docker_cfg),
        "REGISTRY_AUTH_FILE": str(tmp_path / "auth.json"),
        "TMPDIR": str(tmp_path),
        "LANG": "C.UTF-8",
    }
    return env


CONTAINERD_CONFIG = """\
version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
                    "io.containerd.snapshotter.v1.aufs"]
[grpc]
  address = "{sock}"
[ttrpc]
  address = "{sock}.ttrpc"
[debug]
  address = "{debug}"
[metrics]
  address = ""
"""


class Containerd:
    def __init__(self, base):
        self.base = Path(base)
        self.sock = self.base / "c.sock"
        cfg = self.base / "config.toml"
        cfg.write_text(CONTAINERD_CONFIG.format(root=self.base / "root", state=self.base / "state",
                                                sock=self.sock, debug=self.base / "d.sock"))
        self.ctr_bin = S.need_binary("ctr")
        self.daemon = S.Daemon("containerd", [S.need_binary("containerd"), "--config", cfg],
                               self.base / "containerd.log")
        S.wait_until(lambda: S.run(self.ctr_argv("version"), check=False,
                                   timeout=10).returncode == 0,
                     20, "containerd to answer", self.daemon, interval=0.1)

    def ctr_argv(self, *args, namespace="e2e"):
        return [self.ctr_bin, "--address", str(self.sock), "--namespace", namespace,
                *map(str, args)]

    def ctr(self, *args, check=True, timeout=120, env=None):
        return S.run(self.ctr_argv(*args), check=check, timeout=timeout, env=env)


@pytest.fixture(scope="session")
def containerd(tmp_path_factory):
    # A short path: unix socket names are limited to 108 bytes.
    ctd = Containerd(tmp_path_factory.mktemp("ctd"))
    try:
        yield ctd
    finally:
        ctd.daemon.stop()


class Dockerd:
    def __init__(self, base, containerd_sock, registry_host):
        self.base = Path(base)
        self.sock = self.base / "docker.sock"
        self.host = f"unix://{self.sock}"
        daemon_json = self.base / "daemon.json"
        daemon_json.write_text("{}")
        self.docker_bin = S.need_binary("docker")
        # docker reads credsStore helpers found on PATH (secretservice, pass); keep the CLI's
        # PATH to a folder that holds only docker itself so the plain file store is used.
        self.cli_path = self.base / "cli-bin"
        self.cli_path.mkdir()
        (self.cli_path / "docker").symlink_to(self.docker_bin)
        argv = [S.need_binary("dockerd"), "--containerd", containerd_sock,
                "--data-root", self.base / "data", "--exec-root", self.base / "exec",
                "--pidfile", self.base / "dockerd.pid", "-H", self.host,
                "--iptables=false", "--ip6tables=false", "--bridge=none",
                "--storage-driver=vfs", "--insecure-registry", registry_host,
                "--config-file", daemon_json]
        self.daemon = S.Daemon("dockerd", argv, self.base / "dockerd.log")
        S.wait_until(lambda: S.run(self.docker_argv("version"), check=False, timeout=10,
                                   env=self.env(self.base)).returncode == 0,
                     60, "dockerd to answer", self.daemon, interval=0.2)

    def docker_argv(self, *args):
        return [str(self.cli_path / "docker"), *map(str, args)]

    def env(self, docker_config, base_env=None):
        env = dict(base_env or {"HOME": str(self.base), "LANG": "C.UTF-8"})
        env["PATH"] = str(self.cli_path)
        env["DOCKER_HOST"] = self.host
        env["DOCKER_CONFIG"] = str(docker_config)
        env.pop("DOCKER_AUTH_CONFIG", None)
        return env

    def docker(self, *args, env, input=None, check=True, timeout=180):
        return S.run(self.docker_argv(*args), env=env, input=input, check=check, timeout=timeout)


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory, containerd, registry, docker_archive):
    base = tmp_path_factory.mktemp("dkd")
    dk = Dockerd(base, containerd.sock, registry.host)
    try:
        cfg = base / "load-config"
        cfg.mkdir()
        dk.docker("load", "-i", docker_archive, env=dk.env(cfg))
        yield dk
    finally:
        rc = dk.daemon.stop(timeout=30)
    assert rc == 0, f"dockerd exited {rc} on SIGTERM"


@pytest.fixture(scope="session")
def podman_bin():
    return S.need_binary("podman")


@pytest.fixture(scope="session")
def skopeo_bin():
    return S.need_binary("skopeo")


@pytest.fixture(scope="session")
def oidc_issuer():
    """A local OIDC issuer (tests/e2e/oidc_issuer.py) on 127.0.0.1, for the whole session."""
    from oidc_issuer import OidcIssuer
    iss = OidcIssuer()
    try:
        yield iss
    finally:
        iss.stop()


@pytest.fixture
def keeps_serving(regauthd):
    """Each test sends from its own loopback address (the per-address failure limit of one
    test must not lock the next), and the server must still serve after it. Modules that
    send bad input use it with pytestmark = pytest.mark.usefixtures("keeps_serving")."""
    regauthd.source = S.next_loopback()
    try:
        yield
        assert regauthd.alive(), "regauthd died"
        assert regauthd.healthy(), "regauthd no longer answers /healthz"
    finally:
        regauthd.source = None
