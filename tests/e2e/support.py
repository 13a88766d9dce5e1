"""Shared machinery of the end-to-end tests: processes, HTTP, the token-verifying proxy,
an independent JWT verifier, and a hand-written OCI image layout.

Nothing here is a mock: every server is a real process (or, for the proxy, a real HTTP
server on a loopback socket) and every token is checked with PyJWT and python-cryptography,
independently of the C code that produced it.
"""

import base64
import datetime
import gzip
import hashlib
import http.client
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import tarfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

REPO_ROOT = Path(__file__).resolve().parents[2]
# REGAUTH_E2E_REGAUTHD may name another build of the server (say, an installed one).
REGAUTHD = Path(os.environ.get("REGAUTH_E2E_REGAUTHD") or REPO_ROOT / "bin" / "regauthd")
SERVICE = "e2e-registry"
ISSUER = "regauth-e2e"
LOGIN_AUD = "urn:regauth:login"
JTI_RE = re.compile(r"[0-9a-f]{32}")


# ---------------------------------------------------------------------------------------
# small helpers


def need_binary(name):
    """Path of a required program; a missing one FAILS the test (never a skip)."""
    path = shutil.which(name)
    if not path:
        pytest.fail(f"required program {name!r} is not on PATH", pytrace=False)
    return path


def need_regauthd():
    if not (REGAUTHD.is_file() and os.access(REGAUTHD, os.X_OK)):
        pytest.fail(f"{REGAUTHD} is missing or not executable: run `make` first", pytrace=False)
    return str(REGAUTHD)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(text):
    if isinstance(text, str):
        text = text.encode()
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


def run(argv, *, input=None, env=None, timeout=120, check=True, cwd=None):
    """Run a command to completion; on an unexpected exit code, fail with its output."""
    res = subprocess.run(argv, input=input, env=env, cwd=cwd, timeout=timeout,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    res.out = res.stdout.decode(errors="replace")
    res.err = res.stderr.decode(errors="replace")
    if check and res.returncode != 0:
        pytest.fail(f"command failed (exit {res.returncode}): {' '.join(map(str, argv))}\n"
                    f"--- stdout\n{res.out}\n--- stderr\n{res.err}", pytrace=False)
    return res


def wait_until(pred, timeout, what, proc=None, interval=0.05):
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{proc.name} exited with {proc.poll()} while waiting for {what}\n"
                        f"--- {proc.name} log\n{proc.log_tail()}", pytrace=False)
        try:
            if pred():
                return
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            last_exc = exc
        time.sleep(interval)
    extra = f"\n--- {proc.name} log\n{proc.log_tail()}" if proc is not None else ""
    pytest.fail(f"timed out after {timeout}s waiting for {what} (last error: {last_exc!r}){extra}",
                pytrace=False)


# ---------------------------------------------------------------------------------------
# processes, stopped by PID only

_LIVE = {}


class Daemon:
    """A background process started as our direct child, its output in a log file."""

    def __init__(self, name, argv, log_path, env=None, cwd=None):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.log_path = Path(log_path)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                     start_new_session=True)
        self.pid = self.proc.pid
        _LIVE[self.pid] = self

    def poll(self):
        return self.proc.poll()

    def stop(self, timeout=15.0, sig=signal.SIGTERM):
        """SIGTERM the PID, SIGKILL it after timeout; return the exit status."""
        try:
            if self.proc.poll() is None:
                os.kill(self.pid, sig)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.kill(self.pid, signal.SIGKILL)
                    self.proc.wait(10)
        finally:
            _LIVE.pop(self.pid, None)
            self._log.close()
        return self.proc.returncode

    def log_size(self):
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_text(self, since=0):
        with open(self.log_path, "rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace")

    def log_tail(self, nbytes=20000):
        size = self.log_size()
        return self.log_text(max(0, size - nbytes))


def stop_leftovers():
    """Last resort at interpreter exit: every daemon still alive, by its own PID."""
    for d in list(_LIVE.values()):
        try:
            d.stop(timeout=5)
        except Exception:  # noqa: BLE001
            pass


# ---------------------------------------------------------------------------------------
# HTTP client helpers


class Reply:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage (case-insensitive)
        self.body = body

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode(errors="replace")

    def __repr__(self):
        return f"<Reply {self.status} {self.text[:300]!r}>"


def http_request(port, method, path, *, headers=None, body=None, timeout=30, source=None):
    """One request on a fresh connection; source: a local 127.x.y.z address to send from."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return Reply(resp.status, resp.reason, resp.headers, data)
    finally:
        conn.close()


_LOOPBACK = iter(f"127.0.{i // 250 + 1}.{i % 250 + 1}" for i in range(60000))


def next_loopback():
    """A loopback source address not used before in this run (Linux routes all of 127/8 to
    lo): per-address failure counters of one test do not spill into the next."""
    return next(_LOOPBACK)


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def raw_exchange(port, data, timeout=30, chunk_sleep=None, source=None):
    """Send raw bytes (or a list of byte strings, sent one by one) and read until the server
    closes or a full response arrived. Returns (status or None, header text, body bytes).
    A server refusing an oversized request may close while we still send: that is not an
    error here, the reply (if any) is still read."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                 source_address=(source, 0) if source else None)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    try:
        parts = data if isinstance(data, list) else [data]
        try:
            for part in parts:
                s.sendall(part)
                if chunk_sleep:
                    time.sleep(chunk_sleep)
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            while True:
                got = s.recv(65536)
                if not got:
                    break
                buf += got
                head, sep, rest = buf.partition(b"\r\n\r\n")
                if sep:
                    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                    if m and len(rest) >= int(m.group(1)):
                        break
                    if not m and re.search(rb"(?im)^transfer-encoding:\s*chunked", head) \
                            and rest.endswith(b"0\r\n\r\n"):
                        break
        except (ConnectionResetError, socket.timeout):
            pass
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", buf)
    head, _, body = buf.partition(b"\r\n\r\n")
    return (int(m.group(1)) if m else None), head.decode(errors="replace"), body


# ---------------------------------------------------------------------------------------
# scopes


def parse_scope(text):
    """(type, name, [actions]) per the distribution grammar: type up to the first ':',
    actions after the last ':', the name in between (it may hold host:port). The
    deprecated resource class, as in repository(plugin), is dropped."""
    first = text.index(":")
    last = text.rindex(":")
    rtype = re.sub(r"\(.*\)$", "", text[:first])
    return rtype, text[first + 1:last], [a for a in text[last + 1:].split(",") if a]


def asked_scopes(values):
    """Map (type, name) -> set(actions) for scope parameters (each may be space-separated).
    Unparseable items are ignored here: the server answers them with 400."""
    asked = {}
    for v in values:
        for item in v.split():
            try:
                t, n, acts = parse_scope(item)
            except ValueError:
                continue
            asked.setdefault((t, n), set()).update(acts)
    return asked


def normalize_access(access):
    """Merge entries by (type, name), sort actions, drop entries that grant nothing."""
    merged = {}
    for e in access:
        merged.setdefault((e["type"], e["name"]), set()).update(e["actions"])
    return sorted(({"type": t, "name": n, "actions": sorted(a)}
                   for (t, n), a in merged.items() if a),
                  key=lambda e: (e["type"], e["name"]))


# ---------------------------------------------------------------------------------------
# independent token verification


def load_pem_certs(data):
    if isinstance(data, str):
        data = data.encode()
    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", data, re.S)
    return [x509.load_pem_x509_certificate(b) for b in blocks]


def jwk_thumbprint(pub):
    """RFC 7638 thumbprint (base64url SHA-256 of the canonical JWK), computed here."""
    if isinstance(pub, ec.EllipticCurvePublicKey):
        size = (pub.curve.key_size + 7) // 8
        nums = pub.public_numbers()
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[pub.curve.name]
        members = {"crv": crv, "kty": "EC", "x": b64u(nums.x.to_bytes(size, "big")),
                   "y": b64u(nums.y.to_bytes(size, "big"))}
    elif isinstance(pub, rsa.RSAPublicKey):
        nums = pub.public_numbers()
        members = {"e": b64u(nums.e.to_bytes((nums.e.bit_length() + 7) // 8, "big")),
                   "kty": "RSA", "n": b64u(nums.n.to_bytes((nums.n.bit_length() + 7) // 8, "big"))}
    else:
        raise ValueError(f"unsupported key type {type(pub).__name__}")
    canon = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return b64u(hashlib.sha256(canon).digest())


def _cert_signed_by(cert, issuer):
    if cert.issuer != issuer.subject:
        return False
    pub = issuer.public_key()
    try:
        if isinstance(pub, ec.EllipticCurvePublicKey):
            pub.verify(cert.signature, cert.tbs_certificate_bytes,
                       ec.ECDSA(cert.signature_hash_algorithm))
        elif isinstance(pub, rsa.RSAPublicKey):
            pub.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                       cert.signature_hash_algorithm)
        else:
            return False
    except Exception:  # noqa: BLE001 - InvalidSignature and friends
        return False
    return True


def _der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


class TokenError(AssertionError):
    pass


class TokenVerifier:
    """Checks registry tokens and login tokens against the CA bundle, nothing else."""

    def __init__(self, bundle_pem, issuer=ISSUER, services=(SERVICE,)):
        self.roots = load_pem_certs(bundle_pem)
        if not self.roots:
            raise TokenError("bundle.pem holds no certificate")
        self.issuer = issuer
        self.services = tuple(services)

    def _leaf(self, header):
        x5c = header.get("x5c")
        if not isinstance(x5c, list) or not x5c or not all(isinstance(c, str) for c in x5c):
            raise TokenError(f"header x5c missing or not a list of strings: {x5c!r}")
        try:
            chain = [x509.load_der_x509_certificate(base64.b64decode(c, validate=True))
                     for c in x5c]
        except Exception as exc:  # noqa: BLE001
            raise TokenError(f"x5c does not hold base64 DER certificates: {exc}") from exc
        leaf = chain[0]
        root_ders = {_der(r) for r in self.roots}
        if _der(leaf) in root_ders:
            raise TokenError("x5c leaf is the CA itself; it must be a CA-issued signing cert")
        for cert, nxt in zip(chain, chain[1:]):
            if not _cert_signed_by(cert, nxt):
                raise TokenError("x5c chain: a certificate is not signed by the next one")
        top = chain[-1]
        if _der(top) not in root_ders and not any(_cert_signed_by(top, r) for r in self.roots):
            raise TokenError("x5c does not chain to a certificate of bundle.pem")
        now = datetime.datetime.utcnow()
        for cert in chain:
            if not cert.not_valid_before <= now <= cert.not_valid_after:
                raise TokenError(f"x5c certificate outside its validity: "
                                 f"{cert.not_valid_before}..{cert.not_valid_after}")
        return leaf

    def _header(self, token):
        try:
            header = jwt.get_unverified_header(token)
        except Exception as exc:  # noqa: BLE001
            raise TokenError(f"not a JWS: {exc}") from exc
        if header.get("alg") != "ES256":
            raise TokenError(f"header alg {header.get('alg')!r}, want ES256")
        if header.get("typ") != "JWT":
            raise TokenError(f"header typ {header.get('typ')!r}, want JWT")
        leaf = self._leaf(header)
        want_kid = jwk_thumbprint(leaf.public_key())
        if header.get("kid") != want_kid:
            raise TokenError(f"header kid {header.get('kid')!r} is not the RFC 7638 thumbprint "
                             f"{want_kid!r} of the x5c leaf key")
        return header, leaf

    def registry_token(self, token, *, asked=None, service=None, expires_in=None,
                       issued_at=None):
        """Verify one registry token; return its claims. asked: (type, name) -> actions."""
        header, leaf = self._header(token)
        service = service or self.services[0]
        try:
            claims = jwt.decode(token, leaf.public_key(), algorithms=["ES256"],
                                audience=service, issuer=self.issuer, leeway=2,
                                options={"require": ["exp", "nbf", "iat", "iss", "aud", "jti"]})
        except Exception as exc:  # noqa: BLE001
            raise TokenError(f"signature/claims rejected by PyJWT: {exc!r}") from exc
        if not isinstance(claims["aud"], str):
            raise TokenError(f"aud must be a JSON string (registry 2.8), got {claims['aud']!r}")
        for k in ("exp", "nbf", "iat"):
            if not isinstance(claims[k], int) or isinstance(claims[k], bool):
                raise TokenError(f"{k} must be an integer NumericDate, got {claims[k]!r}")
        if not claims["exp"] > claims["iat"]:
            raise TokenError("exp must be after iat")
        if not claims["nbf"] <= claims["iat"]:
            raise TokenError("nbf must not be after iat")
        if abs(claims["iat"] - time.time()) > 30:
            raise TokenError(f"iat {claims['iat']} is far from now")
        if expires_in is not None:
            if not isinstance(expires_in, int) or expires_in < 60:
                raise TokenError(f"expires_in must be an integer >= 60, got {expires_in!r}")
            if abs((claims["exp"] - claims["iat"]) - expires_in) > 1:
                raise TokenError(f"exp - iat = {claims['exp'] - claims['iat']} "
                                 f"but expires_in = {expires_in}")
        if issued_at is not None:
            try:
                t = datetime.datetime.fromisoformat(issued_at.replace("Z", "+00:00"))
            except Exception as exc:  # noqa: BLE001
                raise TokenError(f"issued_at is not RFC 3339: {issued_at!r}") from exc
            if t.tzinfo is None or abs(t.timestamp() - claims["iat"]) > 2:
                raise TokenError(f"issued_at {issued_at!r} does not match iat {claims['iat']}")
        if not isinstance(claims["jti"], str) or not JTI_RE.fullmatch(claims["jti"]):
            raise TokenError(f"jti must be 32 lowercase hex chars, got {claims['jti']!r}")
        if not isinstance(claims.get("sub"), str):
            raise TokenError(f"sub must be a string, got {claims.get('sub')!r}")
        if claims.get("token_use") == "login":
            raise TokenError("a registry token carries token_use=login")
        access = claims.get("access")
        if not isinstance(access, list):
            raise TokenError(f"access must be a list, got {access!r}")
        for e in access:
            if not isinstance(e, dict) or not isinstance(e.get("type"), str) \
                    or not isinstance(e.get("name"), str) or not isinstance(e.get("actions"), list) \
                    or not all(isinstance(a, str) and a for a in e["actions"]):
                raise TokenError(f"malformed access entry {e!r}")
            if set(e) - {"type", "name", "actions"}:
                raise TokenError(f"access entry has extra members {sorted(set(e) - {'type', 'name', 'actions'})}")
            if "(" in e["type"]:
                raise TokenError(f"access entry keeps a resource class: {e!r}")
            if len(set(e["actions"])) != len(e["actions"]):
                raise TokenError(f"duplicate actions in {e!r}")
            if asked is not None:
                key = (e["type"], e["name"])
                if key not in asked:
                    raise TokenError(f"access names {key} which was not asked ({sorted(asked)})")
                extra = set(e["actions"]) - asked[key]
                if extra:
                    raise TokenError(f"access grants {sorted(extra)} on {key}, not asked")
        return claims

    def login_token(self, token):
        header, leaf = self._header(token)
        try:
            claims = jwt.decode(token, leaf.public_key(), algorithms=["ES256"],
                                audience=LOGIN_AUD, leeway=2,
                                options={"require": ["exp", "iat", "aud", "sub"]})
        except Exception as exc:  # noqa: BLE001
            raise TokenError(f"login token rejected by PyJWT: {exc!r}") from exc
        if claims.get("token_use") != "login":
            raise TokenError(f"login token token_use={claims.get('token_use')!r}, want 'login'")
        if "access" in claims:
            raise TokenError("a login token carries registry access")
        return claims

    def token_response(self, obj, *, method, scopes, service=None):
        """Verify a 200 answer of /token. scopes: the raw scope parameter values.
        Returns (number of registry tokens verified, claims of the first)."""
        if not isinstance(obj, dict):
            raise TokenError(f"answer is not a JSON object: {obj!r}")
        toks = []
        for k in ("token", "access_token"):
            if k in obj:
                if not isinstance(obj[k], str) or not obj[k]:
                    raise TokenError(f"{k} is not a non-empty string")
                toks.append(obj[k])
        if not toks:
            raise TokenError(f"no token/access_token in {sorted(obj)}")
        if method == "GET" and not ("token" in obj and "access_token" in obj):
            raise TokenError("GET /token must answer both token and access_token")
        if method == "POST":
            if "access_token" not in obj:
                raise TokenError("POST /token must answer access_token")
            if not isinstance(obj.get("scope"), str):
                raise TokenError(f"POST /token must answer scope as a string: {obj.get('scope')!r}")
        if "expires_in" not in obj or "issued_at" not in obj:
            raise TokenError(f"expires_in/issued_at missing: {sorted(obj)}")
        asked = asked_scopes(scopes)
        first = None
        for t in dict.fromkeys(toks):
            c = self.registry_token(t, asked=asked, service=service,
                                    expires_in=obj.get("expires_in"),
                                    issued_at=obj.get("issued_at"))
            first = first or c
        if "refresh_token" in obj:
            self.login_token(obj["refresh_token"])
        return len(dict.fromkeys(toks)), first


# ---------------------------------------------------------------------------------------
# per-test accounting of every token that passed through a verifier


class TokenLedger:
    def __init__(self):
        self.lock = threading.Lock()
        self.current = "(outside a test)"
        self.fetched = {}   # test id -> 200 answers of /token
        self.verified = {}  # test id -> tokens verified
        self.failures = []  # (test id, message)

    def record(self, fetched=0, verified=0, failure=None, test=None):
        with self.lock:
            t = test or self.current
            self.fetched[t] = self.fetched.get(t, 0) + fetched
            self.verified[t] = self.verified.get(t, 0) + verified
            if failure:
                self.failures.append((t, failure))

    def snapshot(self, test):
        with self.lock:
            return (self.fetched.get(test, 0), self.verified.get(test, 0),
                    [m for t, m in self.failures if t == test])


LEDGER = TokenLedger()


# ---------------------------------------------------------------------------------------
# the token-verifying reverse proxy


class ProxyRecord:
    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self):
        return (f"<{self.method} {self.path} chunked={self.chunked} "
                f"status={self.status} form={self.form_redacted()}>")

    def form_redacted(self):
        return {k: (["***"] if k in ("password", "refresh_token") else v)
                for k, v in self.form.items()}


def _read_chunked(rfile):
    """Return (raw bytes exactly as sent, decoded body)."""
    raw, body = b"", b""
    while True:
        line = rfile.readline(65537)
        if not line:
            raise ConnectionError("EOF in chunked body")
        raw += line
        size = int(line.split(b";")[0].strip(), 16)
        if size == 0:
            while True:
                trailer = rfile.readline(65537)
                raw += trailer
                if trailer in (b"\r\n", b"\n", b""):
                    return raw, body
        data = rfile.read(size)
        crlf = rfile.readline(65537)
        raw += data + crlf
        body += data


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "e2e-token-proxy"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):  # quiet
        pass

    def _forward(self):
        proxy = self.server.owner
        test = proxy.ledger.current
        te = self.headers.get("Transfer-Encoding", "")
        chunked = "chunked" in te.lower()
        if chunked:
            raw, body = _read_chunked(self.rfile)
        elif self.headers.get("Content-Length") is not None:
            raw = body = self.rfile.read(int(self.headers["Content-Length"]))
        else:
            raw = body = b""
        up = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60,
                                        source_address=(proxy.upstream_source, 0))
        try:
            up.connect()
            up.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            up.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            xff = []
            for k, v in self.headers.items():
                if k.lower() == "x-forwarded-for":
                    xff.append(v)
                else:
                    up.putheader(k, v)
            # as a reverse proxy does: append the address the client connected from
            up.putheader("X-Forwarded-For", ", ".join(xff + [self.client_address[0]]))
            up.endheaders()
            if raw:
                up.send(raw)  # chunked bodies stay chunked, byte for byte
            resp = up.getresponse()
            data = resp.read()
            status, reason, rheaders = resp.status, resp.reason, resp.getheaders()
        except Exception as exc:  # noqa: BLE001 - upstream down: tell the client
            status, reason, data = 502, "Bad Gateway", f"proxy: {exc!r}".encode()
            rheaders = [("Content-Type", "text/plain")]
        finally:
            up.close()
        # verify before answering: the client cannot finish (and the test end) before the
        # token is accounted to that test
        proxy.observe(self, test, chunked, body, status,
                      dict((k.lower(), v) for k, v in rheaders), data)
        out = [f"HTTP/1.1 {status} {reason}\r\n".encode()]
        for k, v in rheaders:
            if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                out.append(f"{k}: {v}\r\n".encode())
        out.append(f"Content-Length: {len(data)}\r\n".encode())
        if self.close_connection:
            out.append(b"Connection: close\r\n")
        out.append(b"\r\n")
        if self.command != "HEAD":
            out.append(data)
        self.wfile.write(b"".join(out))  # one write

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _forward


class TokenProxy:
    """HTTP/1.1 reverse proxy in front of regauthd that verifies every token it relays.
    It connects to regauthd from its own loopback address (upstream_source, a trusted proxy
    in regauthd.json) and appends the client's address to X-Forwarded-For."""

    def __init__(self, upstream_port, ledger=LEDGER):
        self.upstream_port = upstream_port
        self.upstream_source = next_loopback()
        self.ledger = ledger
        self.verifier = None  # set once regauthd's bundle exists
        self.records = []
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="token-proxy",
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)

    def records_since(self, n):
        with self.lock:
            return list(self.records[n:])

    def count(self):
        with self.lock:
            return len(self.records)

    def observe(self, handler, test, chunked, body, status, rheaders, data):
        path, _, query = handler.path.partition("?")
        qs = urllib.parse.parse_qs(query, keep_blank_values=True)
        ctype = handler.headers.get("Content-Type", "")
        form = {}
        if handler.command == "POST" and ctype.split(";")[0].strip().lower() == \
                "application/x-www-form-urlencoded":
            form = urllib.parse.parse_qs(body.decode(errors="replace"), keep_blank_values=True)
        rec = ProxyRecord(method=handler.command, path=path, query=qs, form=form,
                          headers={k.lower(): v for k, v in handler.headers.items()},
                          chunked=chunked, status=status, test=test, response=None)
        if path == "/token" and status == 200:
            params = form if handler.command == "POST" else qs
            try:
                obj = json.loads(data)
                rec.response = obj
                if self.verifier is None:
                    raise TokenError("proxy has no verifier configured")
                n, _ = self.verifier.token_response(
                    obj, method=handler.command, scopes=params.get("scope", []),
                    service=(params.get("service") or [None])[0])
                self.ledger.record(fetched=1, verified=n, test=test)
            except Exception as exc:  # noqa: BLE001
                self.ledger.record(fetched=1, failure=f"{handler.command} {handler.path[:200]}: "
                                                      f"{exc}", test=test)
        with self.lock:
            self.records.append(rec)


# ---------------------------------------------------------------------------------------
# a tiny OCI image, written by hand


def _arch():
    m = platform.machine().lower()
    return {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(m, m)


def build_oci_layout(dest, tag="v1", payload=b"hello from regauth e2e\n"):
    """Write an OCI image layout (oci-layout, index.json, blobs/sha256/{manifest,config,
    layer}) usable as `oci:DEST:TAG`. Returns a dict of the digests."""
    dest = Path(dest)
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data):
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return f"sha256:{digest}", len(data)

    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(payload)
        info.mtime = 1700000000
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(payload))
    tar_bytes = tbuf.getvalue()
    gbuf = io.BytesIO()
    with gzip.GzipFile(fileobj=gbuf, mode="wb", mtime=0) as gz:
        gz.write(tar_bytes)
    layer_digest, layer_size = put(gbuf.getvalue())
    diff_id = "sha256:" + hashlib.sha256(tar_bytes).hexdigest()
    config = {
        "created": "2023-11-14T22:13:20Z",
        "architecture": _arch(),
        "os": "linux",
        "config": {"Cmd": ["/hello.txt"], "Env": ["PATH=/"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2023-11-14T22:13:20Z", "created_by": "regauth e2e"}],
    }
    config_digest, config_size = put(json.dumps(config, separators=(",", ":")).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": layer_digest, "size": layer_size}],
    }
    manifest_digest, manifest_size = put(json.dumps(manifest, separators=(",", ":")).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest_digest, "size": manifest_size,
                       "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }
    (dest / "index.json").write_text(json.dumps(index))
    (dest / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return {"dir": dest, "tag": tag, "manifest": manifest_digest, "config": config_digest,
            "layer": layer_digest, "diff_id": diff_id, "payload": payload}


if __name__ == "__main__":
    # For the README walkthrough: write the same tiny image as an OCI layout.
    import sys
    if len(sys.argv) not in (3, 4) or sys.argv[1] != "oci-image":
        sys.exit("usage: support.py oci-image DIR [TAG]   (then use oci:DIR:TAG)")
    out = build_oci_layout(sys.argv[2], *(sys.argv[3:4] or ["v1"]))
    print(f"oci:{out['dir']}:{out['tag']}")
