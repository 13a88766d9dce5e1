"""HTTPS, reloads and privileges of `regauthd serve` (issue 6), each against dedicated servers:

(a) a registry whose realm is https://127.0.0.1:PORT/token, with skopeo pushing and pulling through
    it; skopeo trusts the token server's CA through --dest-cert-dir / --src-cert-dir (the same
    TLS settings it uses for the registry: containers/image has one HTTP client for both), and a
    policy allowing only when aws:SecureTransport is true grants over HTTPS and denies over HTTP;
(b) a renewed certificate is taken on SIGHUP while a kept-alive connection stays open; a broken,
    mismatched or group-readable key is refused (the file named) and the old certificate serves;
(c) 50 SIGHUPs during a wrk run on GET /token over HTTPS: no non-2xx answer, no socket error; a
    broken policy in the middle is refused with FILE:LINE and the old configuration serves;
(d) --watch: an edited policy is in force within seconds without a signal, folders made later are
    watched, and the server's own reloads do not wake the watcher again;
(e) started as root with --user nobody: ids, supplementary groups, NoNewPrivs and capabilities
    in /proc/PID/status; a reload that nobody cannot read is refused and the old snapshot serves.
"""

import base64
import datetime
import http.client
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import support as S

SERVICE = "tls-registry"
ISSUER = "regauth-tls"
TLS_ONLY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{
        "Sid": "OnlyOverTls", "Effect": "Allow",
        "Action": ["registry:Pull", "registry:Push"], "Resource": "repository/tls/*",
        "Condition": {"Bool": {"aws:SecureTransport": "true"}},
    }],
}
BROKEN_POLICY = (
    '{\n'
    '  "Version": "2012-10-17",\n'
    '  "Statement": [{"Effect": "allow", "Action": "registry:Pull", "Resource": "*"}]\n'
    '}\n'
)


# ---------------------------------------------------------------------------------------
# a test CA and server certificates (python-cryptography)


class CA:
    def __init__(self, name):
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(self.key, hashes.SHA256()))
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, key=None, cn="127.0.0.1"):
        """(cert PEM, key PEM, serial) for 127.0.0.1; a new P-256 key unless one is given."""
        key = key or ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        serial = x509.random_serial_number()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
            .issuer_name(self.cert.subject).public_key(key.public_key()).serial_number(serial)
            .not_valid_before(now - datetime.timedelta(hours=1))  # backdated (TESTBED 9)
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256()))
        key_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem, serial

    def context(self):
        ctx = ssl.create_default_context(cadata=self.pem.decode())
        return ctx


def write_private(path, data, mode=0o600):
    """Write atomically (temporary name + rename, as editors and cert managers do)."""
    path = Path(path)
    if b"PRIVATE KEY" in data:
        S.SECRETS.add_pem(data, "TLS private key")  # no log may show it (conftest greps them)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------
# HTTPS requests


def https_request(port, method, path, ctx, headers=None, timeout=30):
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=timeout)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return S.Reply(resp.status, resp.reason, resp.headers, resp.read())
    finally:
        conn.close()


def peer_serial(port, ctx):
    """The serial number of the certificate a new TLS connection is shown."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


# ---------------------------------------------------------------------------------------
# a dedicated regauthd


class Server:
    """`regauthd serve` on its own configuration; HTTPS when a CA is given."""

    def __init__(self, base, ca=None, watch=False, extra_args=(), users=None, start=True,
                 policies=None):
        self.bin = S.need_regauthd()
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.dir = self.base / "regauth"
        self.port = S.free_port()
        self.ca = ca
        self.scheme = "https" if ca else "http"
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self.users = {}
        self.watch = watch
        self.extra_args = list(extra_args)
        self.daemon = None
        self.cli("init", self.dir, "--service", SERVICE, "--issuer", ISSUER,
                 "--realm", f"{self.url}/token")
        (self.dir / "policies" / "tls-only.json").write_text(json.dumps(TLS_ONLY_POLICY))
        os.chmod(self.dir / "policies" / "tls-only.json", 0o600)
        for name, doc in (policies or {}).items():
            write_private(self.dir / "policies" / f"{name}.json", doc)
        for name, policies in (users or {"tina": ["tls-only"]}).items():
            pw = secrets.token_hex(16)
            args = ["user", "add", "-c", self.dir, name, "--password-stdin"]
            for p in policies:
                args += ["--policy", p]
            self.cli(*args, input=(pw + "\n").encode())
            self.users[name] = pw
        if ca is not None:
            tls = self.dir / "tls"
            tls.mkdir(mode=0o700)
            self.cert_pem, key_pem, self.serial = ca.issue()
            write_private(tls / "server.crt", self.cert_pem, 0o644)
            write_private(tls / "server.key", key_pem)
            self.set_settings(tls_cert_file="tls/server.crt", tls_key_file="tls/server.key")
        self.bundle = self.dir / "keys" / "bundle.pem"
        self.verifier = S.TokenVerifier(self.bundle.read_bytes(), ISSUER, (SERVICE,))
        if start:
            self.start()

    def cli(self, *args, input=None, check=True):
        return S.run([S.need_regauthd(), *map(str, args)], input=input, check=check, timeout=60)

    def set_settings(self, **kw):
        path = self.dir / "regauthd.json"
        settings = json.loads(path.read_text())
        for k, v in kw.items():
            if v is None:
                settings.pop(k, None)
            else:
                settings[k] = v
        write_private(path, json.dumps(settings, indent=2).encode())

    def start(self):
        argv = [self.bin, "serve", "-c", self.dir, "--listen", f"127.0.0.1:{self.port}"]
        if self.watch:
            argv.append("--watch")
        self.daemon = S.Daemon("regauthd-tls", argv + self.extra_args, self.base / "regauthd.log")
        S.wait_until(self.healthy, 20, f"{self.url}/healthz", self.daemon)
        # start-up is over (privileges dropped, watcher running) when it says so
        S.wait_until(lambda: '"msg":"serving ' in self.log(), 20, "the serving line",
                     self.daemon)

    def context(self):
        return self.ca.context() if self.ca else None

    def request(self, method, path, headers=None):
        if self.ca:
            return https_request(self.port, method, path, self.context(), headers)
        return S.http_request(self.port, method, path, headers=headers)

    def healthy(self):
        r = self.request("GET", "/healthz")
        return r.status == 200 and r.body.strip() == b"ok"

    def token(self, user, scopes, extra=()):
        q = urllib.parse.urlencode([("service", SERVICE)] + [("scope", s) for s in scopes]
                                   + list(extra))
        return self.request("GET", f"/token?{q}",
                            headers={"Authorization": S.basic(user, self.users[user])})

    def access(self, user, scopes):
        """The verified access list the server grants `user` for `scopes` now."""
        r = self.token(user, scopes)
        assert r.status == 200, r
        try:
            _, claims = self.verifier.token_response(r.json(), method="GET", scopes=scopes)
        except Exception as exc:
            S.LEDGER.record(fetched=1, failure=f"{self.url}/token: {exc}")
            raise
        S.LEDGER.record(fetched=1, verified=1)
        return S.normalize_access(claims["access"])

    def log(self, since=0):
        return self.daemon.log_text(since)

    def records(self, since=0):
        out = []
        for line in self.log(since).splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def reloads(self, since=0):
        return sum(1 for r in self.records(since) if r.get("msg") == "configuration reloaded")

    def errors(self, since=0):
        return [r["msg"] for r in self.records(since) if r.get("level") == "error"]

    def hup_and_wait(self, ok=True, timeout=10):
        """SIGHUP by PID; wait for this reload's outcome. Returns the log offset before it."""
        off = self.daemon.log_size()
        os.kill(self.daemon.pid, signal.SIGHUP)
        S.wait_until(lambda: (self.reloads(off) if ok else len(self.errors(off))) >= 1,
                     timeout, "the reload's outcome in the log", self.daemon, interval=0.01)
        return off

    def stop(self):
        if self.daemon is not None:
            rc = self.daemon.stop()
            self.daemon = None
            return rc
        return None


@pytest.fixture
def servers():
    """Servers started by a test, stopped (by PID) after it; they must exit 0 on SIGTERM."""
    started = []
    yield started
    codes = [(s.url, s.stop()) for s in started]
    bad = [(u, c) for u, c in codes if c not in (0, None)]
    assert not bad, f"regauthd did not exit 0 on SIGTERM: {bad}"


# ---------------------------------------------------------------------------------------
# (a) HTTPS end to end: registry realm on https, skopeo through it


REGISTRY_TLS_CONFIG = """\
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
  tls:
    certificate: {cert}
    key: {key}
auth:
  token:
    realm: {realm}
    service: {service}
    issuer: {issuer}
    rootcertbundle: {bundle}
"""


def start_tls_registry(base, ca, realm, bundle):
    base = Path(base)
    base.mkdir(parents=True, exist_ok=True)
    port = S.free_port()
    cert, key, _ = ca.issue()
    (base / "registry.crt").write_bytes(cert)
    write_private(base / "registry.key", key)
    cfg = base / "config.yml"
    cfg.write_text(REGISTRY_TLS_CONFIG.format(
        storage=base / "storage", port=port, secret=secrets.token_hex(16),
        cert=base / "registry.crt", key=base / "registry.key", realm=realm,
        service=SERVICE, issuer=ISSUER, bundle=bundle))
    daemon = S.Daemon("docker-registry-tls", [S.need_binary("docker-registry"), "serve", cfg],
                      base / "registry.log")
    S.wait_until(lambda: https_request(port, "GET", "/v2/", ca.context(), timeout=5).status == 401,
                 20, "TLS registry /v2/ to answer 401", daemon)
    return daemon, port


def skopeo(env, *args, check=True):
    return S.run([S.need_binary("skopeo"), *map(str, args)], env=env, timeout=180, check=check)


def test_https_realm_end_to_end_with_skopeo(tmp_path, servers, oci_image, client_env):
    ts_ca, reg_ca = CA("regauth e2e token server CA"), CA("regauth e2e registry CA")
    srv = Server(tmp_path / "ts", ca=ts_ca)
    servers.append(srv)
    assert "(https: CN=127.0.0.1" in srv.log(), srv.log()
    reg, reg_port = start_tls_registry(tmp_path / "reg", reg_ca, f"{srv.url}/token", srv.bundle)
    try:
        host = f"127.0.0.1:{reg_port}"
        # The challenge sends clients to the https realm.
        r = https_request(reg_port, "GET", "/v2/", reg_ca.context())
        assert f'realm="{srv.url}/token"' in r.headers["Www-Authenticate"], r.headers
        creds = f"tina:{srv.users['tina']}"
        only_reg, both = tmp_path / "certs-registry-only", tmp_path / "certs-both"
        only_reg.mkdir()
        both.mkdir()
        (only_reg / "registry-ca.crt").write_bytes(reg_ca.pem)
        (both / "registry-ca.crt").write_bytes(reg_ca.pem)
        (both / "token-server-ca.crt").write_bytes(ts_ca.pem)
        dest = f"docker://{host}/tls/app:v1"

        # Trusting the registry alone is not enough: the realm's certificate is verified too.
        off = srv.daemon.log_size()
        res = skopeo(client_env, "copy", "--quiet", "--dest-creds", creds,
                     "--dest-cert-dir", only_reg, oci_image["ref"], dest, check=False)
        assert res.returncode != 0, res.out
        print(f"\nskopeo trusting the registry CA only: {res.err.strip()[-400:]}")
        assert "x509" in res.err and "127.0.0.1:%d" % srv.port in res.err, res.err
        assert '"path":"/token"' not in srv.log(off), "a token was served over an untrusted TLS"

        # The token server's CA in the same folder: push and pull work.
        skopeo(client_env, "copy", "--quiet", "--dest-creds", creds, "--dest-cert-dir", both,
               oci_image["ref"], dest)
        out = tmp_path / "pulled"
        skopeo(client_env, "copy", "--quiet", "--src-creds", creds, "--src-cert-dir", both,
               dest, f"oci:{out}:v1")
        index = json.loads((out / "index.json").read_text())
        assert index["manifests"][0]["digest"] == oci_image["manifest"]
        tokens = [r for r in srv.records(off) if r.get("path") == "/token"]
        assert tokens and all(r["status"] == 200 for r in tokens), tokens
        assert {r.get("principal") for r in tokens} == {"user/tina"}, tokens

        # Without verification (--tls-verify=false) skopeo checks neither the registry's
        # certificate nor the realm's: the same client serves both.
        skopeo(client_env, "inspect", "--creds", creds, "--tls-verify=false", "--raw", dest)
        # SSL_CERT_FILE (Go's system pool) also carries the token server's CA.
        bundle = tmp_path / "system-bundle.pem"
        bundle.write_bytes(reg_ca.pem + ts_ca.pem)
        env = dict(client_env, SSL_CERT_FILE=str(bundle))
        skopeo(env, "inspect", "--creds", creds, "--raw", dest)
    finally:
        reg.stop()

    # aws:SecureTransport: the policy allows only over TLS. The same directory served over plain
    # HTTP (TLS settings removed) grants nothing.
    scopes = ["repository:tls/app:pull,push"]
    assert srv.access("tina", scopes) == [
        {"type": "repository", "name": "tls/app", "actions": ["pull", "push"]}]
    plain_dir = tmp_path / "plain" / "regauth"
    shutil.copytree(srv.dir, plain_dir)
    plain = Server.__new__(Server)
    plain.__dict__.update(srv.__dict__)
    plain.base, plain.dir, plain.ca, plain.scheme = tmp_path / "plain", plain_dir, None, "http"
    plain.port = S.free_port()
    plain.url = f"http://127.0.0.1:{plain.port}"
    plain.watch, plain.extra_args = False, []
    plain.set_settings(tls_cert_file=None, tls_key_file=None)
    plain.start()
    servers.append(plain)
    assert plain.access("tina", scopes) == []


# ---------------------------------------------------------------------------------------
# (b) certificate renewal on SIGHUP, broken keys refused


def test_renewed_certificate_on_sighup_keeps_connections(tmp_path, servers):
    ca = CA("regauth e2e renewal CA")
    srv = Server(tmp_path / "ts", ca=ca)
    servers.append(srv)
    ctx = ca.context()
    assert peer_serial(srv.port, ctx) == srv.serial
    kept = http.client.HTTPSConnection("127.0.0.1", srv.port, context=ctx, timeout=10)
    kept.request("GET", "/healthz")
    assert kept.getresponse().read() == b"ok\n"
    sock = kept.sock

    def still_open():
        kept.request("GET", "/healthz")
        resp = kept.getresponse()
        assert (resp.status, resp.read()) == (200, b"ok\n")
        assert kept.sock is sock, "the kept-alive connection was replaced"

    # Renewal: a new certificate and key, written the way certificate managers do.
    tls = srv.dir / "tls"
    cert2, key2, serial2 = ca.issue()
    write_private(tls / "server.crt", cert2, 0o644)
    write_private(tls / "server.key", key2)
    srv.hup_and_wait()
    still_open()
    assert peer_serial(srv.port, ctx) == serial2

    # Broken key files: each reload refused naming the file; the renewed pair keeps serving.
    key_path = tls / "server.key"
    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    cases = [
        (b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n", 0o600,
         "not an unencrypted PEM private key"),
        (other, 0o600, "not the key of the certificate in"),
        (key2, 0o644, "mode 0644 is accessible by group or others"),
    ]
    for data, mode, why in cases:
        write_private(key_path, data, mode)
        off = srv.hup_and_wait(ok=False)
        errs = srv.errors(off)
        assert len(errs) == 1 and str(key_path) in errs[0] and why in errs[0], errs
        assert srv.reloads(off) == 0
        assert peer_serial(srv.port, ctx) == serial2
        still_open()
    write_private(key_path, key2)
    srv.hup_and_wait()
    still_open()
    kept.close()
    assert srv.daemon.poll() is None


# ---------------------------------------------------------------------------------------
# (c) 50 SIGHUPs during a wrk run


def wrk_figures(text):
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    assert m, text
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    return {"requests": int(m.group(1)), "non2xx": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": sum(map(int, sock.groups())) if sock else 0,
            "rps": float(rps.group(1)) if rps else 0.0}


def test_fifty_sighups_during_wrk(tmp_path, servers):
    ca = CA("regauth e2e wrk CA")
    srv = Server(tmp_path / "ts", ca=ca, users={"tina": ["tls-only"], "walt": ["developer"]})
    servers.append(srv)
    scopes = ["repository:team/app:pull,push"]
    granted = srv.access("walt", scopes)
    assert granted == [{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}]
    r = srv.token("walt", [], extra=[("offline_token", "true"), ("client_id", "wrk")])
    assert r.status == 200, r
    login = r.json()["refresh_token"]
    auth = "Basic " + base64.b64encode(f"x:{login}".encode()).decode()
    url = (f"{srv.url}/token?service={SERVICE}&scope=repository:team/app:pull,push"
           "&account=walt")
    wrk = subprocess.Popen([S.need_binary("wrk"), "-t2", "-c16", "-d120s", "--timeout", "5s",
                            "-H", f"Authorization: {auth}", url],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           start_new_session=True)
    try:
        start_off = srv.daemon.log_size()
        S.wait_until(lambda: srv.log(start_off).count('"path":"/token"') >= 200, 20,
                     "wrk's first requests")
        broken = srv.dir / "policies" / "zz-broken.json"
        refused = None
        for i in range(50):
            if i == 25:
                write_private(broken, BROKEN_POLICY.encode())
                off = srv.hup_and_wait(ok=False)
                refused = srv.errors(off)
                # the old snapshot keeps serving: same grants, no reload logged
                assert srv.reloads(off) == 0
                assert srv.access("walt", scopes) == granted
                broken.unlink()
                continue
            srv.hup_and_wait()
            time.sleep(0.03)  # pacing: requests run between reloads (not an assertion)
        assert srv.daemon.poll() is None
    finally:
        os.kill(wrk.pid, signal.SIGINT)  # wrk stops and prints its figures
        out, err = wrk.communicate(timeout=30)
    text = out.decode()
    figures = wrk_figures(text)
    print(f"\nwrk during 50 SIGHUPs: {figures}\n{text}")
    (tmp_path / "wrk.txt").write_text(text)
    assert refused and len(refused) == 1, refused
    assert refused[0].startswith("policies/zz-broken.json:3:"), refused
    assert "Effect" in refused[0], refused
    assert srv.reloads(start_off) == 49
    assert figures["requests"] > 1000, figures
    assert figures["non2xx"] == 0, text
    assert figures["socket_errors"] == 0, text
    assert srv.access("walt", scopes) == granted


# ---------------------------------------------------------------------------------------
# (d) --watch


def test_watch_reloads_on_edits_without_a_signal(tmp_path, servers):
    def allow(actions):
        return json.dumps({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": [f"registry:{a}" for a in actions],
            "Resource": "repository/w/*"}]}).encode()

    srv = Server(tmp_path / "ts", watch=True, users={"wendy": ["watched"]},
                 policies={"watched": allow(["Pull"])})
    policy = srv.dir / "policies" / "watched.json"
    servers.append(srv)
    assert "watching for changes" in srv.log()
    scopes = ["repository:w/app:pull,push"]
    assert srv.access("wendy", scopes) == [
        {"type": "repository", "name": "w/app", "actions": ["pull"]}]

    def picked_up(want, what):
        t0 = time.monotonic()
        S.wait_until(lambda: srv.access("wendy", scopes) == want, 5, what, srv.daemon,
                     interval=0.02)
        return time.monotonic() - t0

    both = [{"type": "repository", "name": "w/app", "actions": ["pull", "push"]}]
    # An editor's save: a temporary file renamed over the policy (IN_MOVED_TO).
    write_private(policy, allow(["Pull", "Push"]))
    t_rename = picked_up(both, "the renamed policy")
    # An in-place write (IN_CLOSE_WRITE).
    with open(policy, "wb") as f:
        f.write(allow(["Pull"]))
    t_write = picked_up([{"type": "repository", "name": "w/app", "actions": ["pull"]}],
                        "the rewritten policy")
    print(f"\n--watch picked up a rename in {t_rename:.2f}s, an in-place write in {t_write:.2f}s")
    assert t_rename < 3 and t_write < 3

    # A folder made after start is watched: a bad role file in it is seen and refused.
    off = srv.daemon.log_size()
    (srv.dir / "roles").mkdir(mode=0o700)
    (srv.dir / "roles" / "bad.json").write_text("{ not json")
    S.wait_until(lambda: any("roles/bad.json:1:" in m for m in srv.errors(off)), 5,
                 "the refused roles/bad.json", srv.daemon)
    assert srv.access("wendy", scopes) == [
        {"type": "repository", "name": "w/app", "actions": ["pull"]}]
    off = srv.daemon.log_size()
    (srv.dir / "roles" / "bad.json").unlink()
    S.wait_until(lambda: srv.reloads(off) >= 1, 5, "the reload after the fix", srv.daemon)

    # Temporary and swap files are not changes; reloads (which only read) wake nothing: after
    # the last reload the count stays put over a quiet window longer than the debounce.
    (srv.dir / "policies" / ".watched.json.swp").write_text("x")
    (srv.dir / "policies" / "watched.json~").write_text("x")
    settled = srv.reloads()
    quiet_until = time.monotonic() + 1.5
    while time.monotonic() < quiet_until:
        assert srv.reloads() == settled, srv.log()
        time.sleep(0.1)
    assert srv.daemon.poll() is None


# ---------------------------------------------------------------------------------------
# (e) privilege drop


def status_fields(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        fields[k] = v.split()
    return fields


@pytest.mark.skipif(os.geteuid() != 0, reason="the privilege drop needs root")
def test_privilege_drop_to_nobody(tmp_path, servers):
    import grp
    import pwd
    nobody = pwd.getpwnam("nobody")
    ca = CA("regauth e2e privileges CA")
    srv = Server(tmp_path / "ts", ca=ca, extra_args=["--user", "nobody"])
    servers.append(srv)
    st = status_fields(srv.daemon.pid)
    assert st["Uid"] == [str(nobody.pw_uid)] * 4, st["Uid"]
    assert st["Gid"] == [str(nobody.pw_gid)] * 4, st["Gid"]
    assert st["Groups"] == [str(nobody.pw_gid)], st["Groups"]
    assert st["NoNewPrivs"] == ["1"], st["NoNewPrivs"]
    assert st["CapEff"] == ["0000000000000000"] and st["CapPrm"] == ["0000000000000000"], st
    # Keys and the TLS key were read as root (0600, owned by root) before the drop.
    assert srv.access("tina", ["repository:tls/app:pull"]) == [
        {"type": "repository", "name": "tls/app", "actions": ["pull"]}]
    # The directory is root's and 0700: nobody cannot reload it; the snapshot keeps serving.
    off = srv.hup_and_wait(ok=False)
    assert any("Permission denied" in m for m in srv.errors(off)), srv.log(off)
    assert srv.access("tina", ["repository:tls/app:pull"]) == [
        {"type": "repository", "name": "tls/app", "actions": ["pull"]}]
    assert srv.stop() == 0

    # The same from regauthd.json, with a group; a user that is root is refused (exit 2).
    group = grp.getgrgid(nobody.pw_gid).gr_name
    srv2 = Server(tmp_path / "ts2", start=False)
    srv2.set_settings(user="nobody", group=group)
    srv2.start()
    servers.append(srv2)
    st = status_fields(srv2.daemon.pid)
    assert st["Uid"][0] == str(nobody.pw_uid) and st["NoNewPrivs"] == ["1"], st
    bad = S.run([S.need_regauthd(), "serve", "-c", srv2.dir, "--listen",
                 f"127.0.0.1:{S.free_port()}", "--user", "root"], check=False, timeout=30)
    assert bad.returncode == 2 and "root" in bad.err, (bad.returncode, bad.err)
