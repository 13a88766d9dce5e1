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
    _observe_run(argv, input, env, res)  # passwords, key files, helper answers; stderr as a log
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
        LOGS.add_file(self.log_path, f"log of {name}")
        if "serve" in self.argv and "-c" in self.argv[:-1]:
            LOGS.add_config_dir(self.argv[self.argv.index("-c") + 1])

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
        if isinstance(body, bytes) and body[:1] == b"{" and b"token" in body:
            SECRETS.add_json_text(body)  # every token answered is a secret

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode(errors="replace")

    def __repr__(self):
        return f"<Reply {self.status} {self.text[:300]!r}>"


def http_request(port, method, path, *, headers=None, body=None, timeout=30, source=None):
    """One request on a fresh connection; source: a local 127.x.y.z address to send from."""
    _observe_request(path, headers, body)
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


def _observe_request(path, headers, body):
    """Register the credentials a request carries: Authorization, form and query fields."""
    try:
        for k, v in (headers or {}).items():
            if k.lower() == "authorization":
                SECRETS.add_authorization(v)
        query = str(path).partition("?")[2]
        if query:
            SECRETS.add_form(urllib.parse.parse_qs(query, keep_blank_values=True))
        if isinstance(body, str):
            body = body.encode()
        if isinstance(body, bytes) and body and b"=" in body:
            SECRETS.add_form(urllib.parse.parse_qs(body.decode("utf-8", "replace"),
                                                   keep_blank_values=True))
    except Exception as exc:  # noqa: BLE001 - bookkeeping must never break a test
        BOOKKEEPING_ERRORS.append(f"request {str(path)[:60]}: {exc!r}")


def _observe_raw(data):
    """The same for raw bytes sent by raw_exchange()."""
    try:
        raw = b"".join(data) if isinstance(data, list) else data
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("utf-8", "replace").split("\r\n")
        hdrs = [tuple(x.strip() for x in ln.split(":", 1)) for ln in lines[1:] if ":" in ln]
        _observe_request(lines[0].split(" ")[1] if lines[0].count(" ") >= 2 else "",
                         dict(hdrs), body)
    except Exception as exc:  # noqa: BLE001
        BOOKKEEPING_ERRORS.append(f"raw request: {exc!r}")


def basic(user, password):
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def raw_exchange(port, data, timeout=30, chunk_sleep=None, source=None):
    """Send raw bytes (or a list of byte strings, sent one by one) and read until the server
    closes or a full response arrived. Returns (status or None, header text, body bytes).
    A server refusing an oversized request may close while we still send: that is not an
    error here, the reply (if any) is still read."""
    _observe_raw(data)
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
        SECRETS.add_jwt(token, "registry token")
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
        SECRETS.add_jwt(token, "login token")
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
        SECRETS.add_json(obj)
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
# secrets used by the tests, and every log they could have reached (issue 6: "the tests grep
# every log for every password, token and key they used: none appears")
#
# SECRETS is fed by the shared helpers: run() (passwords given with --password-stdin, key
# files written by --key-out, the helper's answers), http_request() and the token proxy
# (Basic and Bearer credentials, form fields, every token in a JSON answer), the
# TokenVerifier, OidcIssuer (hooked by conftest) and the configuration folders' key files
# (read at the end). LOGS holds every Daemon's log, the stderr of every regauthd and
# docker-credential-regauth run through run(), and the audit files named by the regauthd.json
# of every configuration folder seen. conftest greps every log for every secret at session end.

MIN_SECRET_LEN = 12  # shorter values would match by accident
_JSON_SECRET_KEYS = {
    "token": "registry token", "access_token": "access token",
    "refresh_token": "login token", "id_token": "OIDC token",
    "identitytoken": "login token", "IdentityToken": "login token",
    "password": "password", "Secret": "password", "secret": "password",
    "assertion": "service-account assertion", "subject_token": "OIDC token",
    "serviceAccountToken": "OIDC token", "client_secret": "password",
    "private_key": "service-account private key",
}
_JWT_RE = re.compile(r"^[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


def secret_digest(value):
    """How a secret is named in reports: never the value, a short SHA-256."""
    if isinstance(value, str):
        value = value.encode()
    return "sha256:" + hashlib.sha256(value).hexdigest()[:12]


def _never_raises(fn):
    """Bookkeeping of secrets must never break a test: an error is noted, shown at the end."""
    def wrapper(*args, **kw):
        try:
            return fn(*args, **kw)
        except Exception as exc:  # noqa: BLE001
            BOOKKEEPING_ERRORS.append(f"{fn.__qualname__}: {exc!r}")
            return None
    wrapper.__name__, wrapper.__qualname__, wrapper.__doc__ = \
        fn.__name__, fn.__qualname__, fn.__doc__
    return wrapper


def _jwt_kind(token, default):
    try:
        claims = json.loads(b64u_decode(token.split(".")[1]))
    except Exception:  # noqa: BLE001 - not a JWT after all
        return default
    if not isinstance(claims, dict):
        return default
    if claims.get("token_use") == "login":
        return "login token"
    if "access" in claims:
        return "registry token"
    if str(claims.get("sub", "")).startswith("serviceaccount/") and \
            claims.get("iss") == claims.get("sub"):
        return "service-account assertion"
    return default


class SecretRegistry:
    """Every secret value the tests made, sent or received: value (bytes) -> kind."""

    def __init__(self, min_len=MIN_SECRET_LEN):
        self.lock = threading.Lock()
        self.min_len = min_len
        self.values = {}   # bytes -> kind
        self.skipped = {}  # digest -> kind, values too short to search for

    def __len__(self):
        return len(self.values)

    def kinds(self):
        """Kinds without the part suffix: 'registry token (signature)' -> 'registry token'."""
        return sorted({k.split(" (")[0] for k in self.values.values()})

    def _put(self, text, kind):
        if not text:
            return
        if len(text) < self.min_len:
            with self.lock:
                self.skipped.setdefault(secret_digest(text), kind)
            return
        with self.lock:
            self.values.setdefault(text.encode("utf-8", "surrogateescape"), kind)

    @_never_raises
    def add(self, value, kind):
        """Register a secret and the forms a log would show it in: JSON-escaped,
        URL-encoded, and, for a multi-line value (a PEM), each line."""
        if value is None:
            return
        if isinstance(value, (bytes, bytearray)):
            value = bytes(value).decode("utf-8", "surrogateescape")
        if not isinstance(value, str):
            return
        value = value.strip()
        if "\n" in value or "\r" in value:
            lines = [ln.strip() for ln in value.splitlines()]
            for ln in lines:
                if not ln.startswith("-----"):  # PEM armour is no secret
                    self.add(ln, kind)
            body = "".join(ln for ln in lines if ln and not ln.startswith("-----"))
            if body and body not in lines:
                self.add(body, kind)
            self._put(json.dumps(value)[1:-1], kind)  # the whole value, JSON-escaped
            return
        if len(value) < self.min_len:  # counted as skipped, and so are its escaped forms
            self._put(value, kind)
            return
        for f in (value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]):
            self._put(f, kind)
        try:
            self._put(urllib.parse.quote_plus(value), kind)
            self._put(urllib.parse.quote(value, safe=""), kind)
        except UnicodeError:  # undecodable bytes: no URL form
            pass

    @_never_raises
    def add_jwt(self, token, kind="JWT"):
        """A JWT: whole, and its payload and signature alone (a log could hold it cut short).
        The kind is read from its claims when they say (login/registry token, assertion)."""
        if not isinstance(token, str) or not token:
            return
        token = token.strip()
        if not _JWT_RE.match(token):
            self.add(token, kind)
            return
        kind = _jwt_kind(token, kind)
        self.add(token, kind)
        parts = token.split(".")
        self.add(parts[1], f"{kind} (payload)")
        self.add(parts[2], f"{kind} (signature)")

    @_never_raises
    def add_token(self, value, kind):
        """A JWT if it looks like one, else a plain secret."""
        if isinstance(value, str) and _JWT_RE.match(value.strip()):
            self.add_jwt(value, kind)
        else:
            self.add(value, kind)

    @_never_raises
    def add_pem(self, pem, kind):
        """A PEM private key (or a file holding some): the armoured text and base64 lines."""
        if isinstance(pem, (bytes, bytearray)):
            pem = bytes(pem).decode("utf-8", "replace")
        for block in re.findall(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.+?-----END [A-Z ]*"
                                r"PRIVATE KEY-----", pem or "", re.S):
            self.add(block, kind)

    @_never_raises
    def add_json(self, obj, default=None):
        """Walk a JSON value; register the strings under the keys of _JSON_SECRET_KEYS."""
        if isinstance(obj, dict):
            for k, v in obj.items():
                if isinstance(v, str) and k in _JSON_SECRET_KEYS:
                    kind = _JSON_SECRET_KEYS[k]
                    if k == "private_key":
                        self.add_pem(v, kind)
                    else:
                        self.add_token(v, kind)
                else:
                    self.add_json(v)
        elif isinstance(obj, list):
            for v in obj:
                self.add_json(v)

    @_never_raises
    def add_json_text(self, data):
        if isinstance(data, (bytes, bytearray)):
            data = bytes(data).decode("utf-8", "replace")
        if not isinstance(data, str) or not data.lstrip().startswith(("{", "[")):
            return
        try:
            self.add_json(json.loads(data))
        except ValueError:
            pass

    @_never_raises
    def add_authorization(self, value):
        """An Authorization header: Basic (the base64 blob and the password) or Bearer."""
        if not isinstance(value, str):
            return
        scheme, _, cred = value.strip().partition(" ")
        cred = cred.strip()
        if scheme.lower() == "basic":
            self.add(cred, "Basic credentials")
            try:
                pw = base64.b64decode(cred, validate=True).decode("utf-8", "replace")
            except Exception:  # noqa: BLE001 - a malformed header sent on purpose
                return
            self.add_token(pw.partition(":")[2], "password")
        elif scheme.lower() == "bearer":
            self.add_token(cred, "bearer token")

    @_never_raises
    def add_form(self, pairs):
        """Form or query fields (parse_qs dict or list of pairs)."""
        items = pairs.items() if isinstance(pairs, dict) else pairs
        for k, vs in items:
            for v in (vs if isinstance(vs, list) else [vs]):
                if k in _JSON_SECRET_KEYS and isinstance(v, str):
                    self.add_token(v, _JSON_SECRET_KEYS[k])

    @_never_raises
    def add_key_file(self, path):
        """A service-account key file (JSON with private_key) or any file holding a PEM."""
        try:
            data = Path(path).read_bytes()
        except OSError:
            return
        self.add_json_text(data)
        self.add_pem(data, "service-account private key")


class LogRegistry:
    """Every log the tests made: files (daemon logs) and captured stderr (in memory)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.files = {}        # Path -> label
        self.texts = []        # (label, bytes)
        self.silent = 0        # captured stderr that was empty
        self.config_dirs = {}  # regauthd configuration folders -> None (ordered set)

    def add_file(self, path, label):
        with self.lock:
            self.files.setdefault(Path(path).resolve(), label)

    def add_text(self, label, data):
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        with self.lock:
            if data:
                self.texts.append((label, bytes(data)))
            else:
                self.silent += 1

    def add_config_dir(self, path):
        with self.lock:
            self.config_dirs[Path(path).resolve()] = None

    def discover(self, secrets):
        """At the end: each configuration folder's audit files (audit_log in regauthd.json,
        and the rotated or other *.log files beside it), *.log files beside a daemon's log
        (nginx's access.log), and the private keys under keys/ and tls/ (into secrets)."""
        for d in list(self.config_dirs):
            for sub, kind in (("keys", "regauthd signing or CA key"),
                              ("tls", "TLS private key")):
                if (d / sub).is_dir():
                    for f in sorted((d / sub).rglob("*")):
                        if f.is_file() and f.stat().st_size < 1 << 20:
                            secrets.add_pem(f.read_bytes(), kind)
            try:
                audit = json.loads((d / "regauthd.json").read_text()).get("audit_log")
            except (OSError, ValueError, AttributeError):
                audit = None
            if isinstance(audit, str) and os.path.isabs(audit):
                a = Path(audit)
                if a.parent.is_dir() and a.parent != d:
                    for f in sorted(a.parent.iterdir()):
                        if f.is_file() and (f.name.startswith(a.name) or ".log" in f.name):
                            self.add_file(f, f"audit file {f.name} ({d.name})")
        for path, label in list(self.files.items()):
            if path.parent.is_dir():
                for f in sorted(path.parent.glob("*.log*")):
                    if f.is_file():
                        self.add_file(f, f"{f.name} beside the {label}")


SECRETS = SecretRegistry()
LOGS = LogRegistry()
BOOKKEEPING_ERRORS = []  # hooks that failed (printed at the end, never fatal)


class ScanResult:
    def __init__(self):
        self.secrets = 0
        self.kinds = 0
        self.skipped = 0
        self.logs = 0
        self.bytes = 0
        self.missing = []   # labels of registered log files that no longer exist
        self.hits = []      # (label, path, line number, kind, digest)
        self.tool = ""
        self.by_kind = {}   # kind (without the part) -> values searched
        self.by_source = {}  # daemon logs, audit files, other logs, captured stderr -> count
        self.silent = 0     # regauthd/helper runs with nothing on stderr (nothing to search)
        self.skipped_by_kind = {}
        self.seconds = 0.0

    def summary(self):
        return (f"regauth e2e: {self.secrets} secrets of {self.kinds} kinds checked against "
                f"{self.logs} logs ({self.bytes} bytes): {len(self.hits)} found"
                f" ({self.skipped} values under {MIN_SECRET_LEN} characters not searched"
                + (f"; {len(self.missing)} registered logs gone" if self.missing else "")
                + ")")

    def details(self):
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.by_kind.items()))
        srcs = ", ".join(f"{k} {n}" for k, n in sorted(self.by_source.items()))
        short = ", ".join(f"{k} {n}" for k, n in sorted(self.skipped_by_kind.items()))
        return (f"  secret scan ({self.tool}, {self.seconds:.1f} s): kinds: {kinds}\n"
                f"  logs: {srcs}; {self.silent} more CLI runs wrote nothing on stderr\n"
                f"  not searched (under {MIN_SECRET_LEN} characters): {short or 'none'}")

    def report_lines(self):
        """One line per hit: file, line number, kind and digest of the secret; never it."""
        return [f"SECRET IN LOG: {label}: {path}:{ln}: {kind} {digest}"
                for label, path, ln, kind, digest in self.hits]


def _grep_lines(patterns, paths):
    """(path, line number, line) of every line holding one of patterns (bytes), found with
    grep -F (Aho-Corasick: thousands of patterns over megabytes in well under a second).
    Without grep, Python does it (slowly)."""
    grep = shutil.which("grep")
    out = []
    if grep is None:
        for p in paths:
            with open(p, "rb") as f:
                for n, line in enumerate(f, 1):
                    if any(s in line for s in patterns):
                        out.append((p, n, line))
        return out
    import tempfile
    with tempfile.NamedTemporaryFile("wb", prefix="regauth-e2e-patterns.", delete=True) as pf:
        pf.write(b"\n".join(patterns) + b"\n")
        pf.flush()
        env = dict(os.environ, LC_ALL="C")
        for i in range(0, len(paths), 200):
            chunk = [str(p) for p in paths[i:i + 200]]
            res = subprocess.run([grep, "-F", "-a", "-n", "-H", "-Z", "-f", pf.name, "--", *chunk],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
            if res.returncode not in (0, 1):
                raise RuntimeError(f"grep failed ({res.returncode}): "
                                   f"{res.stderr.decode(errors='replace')[:500]}")
            for rec in res.stdout.splitlines():
                name, _, rest = rec.partition(b"\0")
                n, _, line = rest.partition(b":")
                out.append((name.decode(errors="surrogateescape"), int(n), line))
    return out


def scan_logs(secrets=None, logs=None, discover=True):
    """Grep every log of `logs` for every secret of `secrets` (the session's registries by
    default). Returns a ScanResult; a hit names the log, the line and the kind, never the
    secret."""
    import tempfile
    secrets = SECRETS if secrets is None else secrets
    logs = LOGS if logs is None else logs
    t0 = time.monotonic()
    if discover:
        logs.discover(secrets)
    res = ScanResult()
    with secrets.lock:
        values = dict(secrets.values)
        res.skipped = len(secrets.skipped)
        for k in secrets.skipped.values():
            res.skipped_by_kind[k] = res.skipped_by_kind.get(k, 0) + 1
    res.secrets = len(values)
    for k in values.values():
        res.by_kind[k.split(" (")[0]] = res.by_kind.get(k.split(" (")[0], 0) + 1
    res.kinds = len(res.by_kind)
    res.tool = "grep -F" if shutil.which("grep") else "python"
    with logs.lock:
        files = dict(logs.files)
        texts = list(logs.texts)
        res.silent = logs.silent
    scratch = Path(tempfile.mkdtemp(prefix="regauth-e2e-stderr."))
    try:
        targets = {}  # path -> label
        for path, label in files.items():
            if path.is_file():
                targets[str(path)] = label
            else:
                res.missing.append(label)
        for i, (label, data) in enumerate(texts):
            p = scratch / f"{i:05d}.stderr"
            p.write_bytes(data)
            targets[str(p)] = label
        res.logs = len(targets)
        for label in targets.values():
            src = ("captured stderr" if label.startswith("stderr of") else
                   "daemon logs" if label.startswith("log of") else
                   "audit files" if label.startswith("audit file") else "other logs")
            res.by_source[src] = res.by_source.get(src, 0) + 1
        res.bytes = sum(os.path.getsize(p) for p in targets)
        # grep -F takes one pattern a line: multi-line values are searched by their lines
        patterns = [v for v in values if b"\n" not in v and b"\r" not in v and b"\0" not in v]
        if patterns and targets:
            for path, n, line in _grep_lines(patterns, list(targets)):
                label = targets.get(path, path)
                where = path if not path.startswith(str(scratch)) else "(captured stderr)"
                found = [v for v in patterns if v in line]
                for v in found:
                    res.hits.append((label, where, n, values[v], secret_digest(v)))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    res.seconds = time.monotonic() - t0
    return res


def watch_oidc_issuer(cls):
    """Hook oidc_issuer.OidcIssuer (conftest does it once): every token mint() makes (the
    GitHub Actions endpoint mints too), every signing key it holds and its runner request
    token are secrets."""
    if getattr(cls, "_e2e_watched", False):
        return
    mint, add_key, init = cls.mint, cls.add_key, cls.__init__

    def watched_mint(self, *args, **kw):
        tok = mint(self, *args, **kw)
        SECRETS.add_jwt(tok, "OIDC token")
        return tok

    def watched_add_key(self, *args, **kw):
        key = add_key(self, *args, **kw)
        try:
            SECRETS.add_pem(key.private_bytes(serialization.Encoding.PEM,
                                              serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()),
                            "OIDC issuer private key")
        except Exception as exc:  # noqa: BLE001
            BOOKKEEPING_ERRORS.append(f"OidcIssuer.add_key: {exc!r}")
        return key

    def watched_init(self, *args, **kw):
        init(self, *args, **kw)
        SECRETS.add(getattr(self, "gha_secret", None), "GitHub Actions request token")

    cls.mint, cls.add_key, cls.__init__ = watched_mint, watched_add_key, watched_init
    cls._e2e_watched = True


def _observe_run(argv, input, env, res):
    """Feed SECRETS and LOGS from one finished command (see run())."""
    try:
        argv = [str(a) for a in argv]
        prog = os.path.basename(argv[0]) if argv else ""
        regauthd = prog == "regauthd" or (argv and argv[0] == str(REGAUTHD))
        helper = prog.startswith("docker-credential-regauth")
        if "--password-stdin" in argv and input:
            SECRETS.add(input.decode("utf-8", "surrogateescape") if isinstance(input, bytes)
                        else input, "password")
        for flag in ("--creds", "--dest-creds", "--src-creds"):
            if flag in argv[:-1]:
                SECRETS.add_token(argv[argv.index(flag) + 1].partition(":")[2], "password")
        for k, kind in (("REGAUTH_OIDC_TOKEN", "OIDC token"),
                        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "GitHub Actions request token")):
            if env and env.get(k):
                SECRETS.add_token(env[k], kind)
        if env and env.get("REGAUTH_KEY_FILE"):
            SECRETS.add_key_file(env["REGAUTH_KEY_FILE"])
        if regauthd:
            if len(argv) > 2 and argv[1] == "init":
                LOGS.add_config_dir(argv[2])
            if "-c" in argv[:-1]:
                LOGS.add_config_dir(argv[argv.index("-c") + 1])
            if "--key-out" in argv[:-1]:
                SECRETS.add_key_file(argv[argv.index("--key-out") + 1])
        if helper:
            SECRETS.add_json_text(input)
            SECRETS.add_json_text(res.stdout)
        if regauthd or helper:
            sub = " ".join(a for a in argv[1:3] if not a.startswith("-"))
            LOGS.add_text(f"stderr of `{prog} {sub}` in {LEDGER.current}", res.stderr)
    except Exception as exc:  # noqa: BLE001 - bookkeeping must never break a test
        BOOKKEEPING_ERRORS.append(f"run({argv[:3]}): {exc!r}")


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
        _observe_request(handler.path, dict(handler.headers.items()), body)
        if data[:1] == b"{":
            SECRETS.add_json_text(data)
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


def reload_and_wait(srv):
    """SIGHUP a regauthd (anything with .daemon, .reload() and .log_records()) and wait until
    it says the new configuration is in; a refused reload fails the test at once."""
    import pytest
    off = srv.daemon.log_size()
    srv.reload()

    def reloaded():
        for rec in srv.log_records(off):
            if rec.get("level") == "error" and "msg" in rec and "path" not in rec:
                pytest.fail(f"reload refused the configuration: {rec['msg']}", pytrace=False)
        return "configuration reloaded" in srv.daemon.log_text(off)

    wait_until(reloaded, 10, "regauthd to reload its configuration", srv.daemon)
