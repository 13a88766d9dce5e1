"""A local OpenID Connect issuer for the end-to-end tests: discovery, a JWKS, tokens shaped
like GitHub Actions' and Kubernetes' (PROTOCOLS.md 4.1, 4.3), GitHub's runner token endpoint
(ACTIONS_ID_TOKEN_REQUEST_URL), and deliberately bad tokens (alg none, HS256 keyed with the
public key, stranger keys, wrong times) to prove a verifier refuses them.

Everything is made here with python-cryptography and signed by hand (no JWT library), so it is
independent of both regauthd and PyJWT, which the self-test uses to check it.

    iss = OidcIssuer()                       # http://127.0.0.1:PORT/oidc, serving at once
    tok = iss.mint(iss.github_claims("acme/app", "refs/heads/main"))
    iss.mint(alg="none"); iss.mint(alg="HS256"); iss.mint(key=iss.stranger_key(), kid="x")
    iss.stop()
"""

import base64
import collections
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

__all__ = ["OidcIssuer", "b64u", "new_private_key"]

_RSA_HASH = {"RS256": hashes.SHA256, "RS384": hashes.SHA384, "RS512": hashes.SHA512,
             "PS256": hashes.SHA256, "PS384": hashes.SHA384, "PS512": hashes.SHA512}
_EC_ALG = {"ES256": (ec.SECP256R1, hashes.SHA256, "P-256", 32),
           "ES384": (ec.SECP384R1, hashes.SHA384, "P-384", 48),
           "ES512": (ec.SECP521R1, hashes.SHA512, "P-521", 66)}
_HMAC_HASH = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_b64u(n, size=None):
    size = size or max(1, (n.bit_length() + 7) // 8)
    return b64u(n.to_bytes(size, "big"))


def _json(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def new_private_key(alg="RS256"):
    """A fresh private key suited to alg (RSA-2048 for RS*/PS*, the curve for ES*)."""
    if alg in _RSA_HASH:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg in _EC_ALG:
        return ec.generate_private_key(_EC_ALG[alg][0]())
    raise ValueError(f"no key type for alg {alg!r}")


def _family(alg):
    if alg in _RSA_HASH:
        return "RSA"
    if alg in _EC_ALG:
        return alg
    return None


def _sign(alg, key, signing_input):
    if alg in _RSA_HASH:
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{alg} needs an RSA private key")
        pad = padding.PKCS1v15() if alg.startswith("RS") else \
            padding.PSS(mgf=padding.MGF1(_RSA_HASH[alg]()), salt_length=_RSA_HASH[alg].digest_size)
        return key.sign(signing_input, pad, _RSA_HASH[alg]())
    if alg in _EC_ALG:
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{alg} needs an EC private key")
        size = _EC_ALG[alg][3]
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(_EC_ALG[alg][1]())))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")  # JOSE: raw r || s
    raise ValueError(f"cannot sign with alg {alg!r}")


def public_jwk(pub, kid, alg):
    if isinstance(pub, rsa.RSAPublicKey):
        nums = pub.public_numbers()
        return {"kty": "RSA", "kid": kid, "use": "sig", "alg": alg,
                "n": _int_b64u(nums.n), "e": _int_b64u(nums.e)}
    if isinstance(pub, ec.EllipticCurvePublicKey):
        crv, size = {"secp256r1": ("P-256", 32), "secp384r1": ("P-384", 48),
                     "secp521r1": ("P-521", 66)}[pub.curve.name]
        nums = pub.public_numbers()
        return {"kty": "EC", "kid": kid, "use": "sig", "alg": alg, "crv": crv,
                "x": _int_b64u(nums.x, size), "y": _int_b64u(nums.y, size)}
    raise ValueError(f"unsupported key {type(pub).__name__}")


def public_pem(key):
    pub = key.public_key() if hasattr(key, "public_key") else key
    return pub.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def _digits(text, n):
    """A stable decimal id derived from text (GitHub ids are decimal strings)."""
    return str(int(hashlib.sha256(text.encode()).hexdigest(), 16))[:n]


def _drop_none(d):
    return {k: v for k, v in d.items() if v is not None}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "e2e-oidc-issuer"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):  # quiet
        pass

    def _send(self, status, obj, extra_headers=()):
        body = obj if isinstance(obj, bytes) else _json(obj)
        head = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n",
                "Content-Type: application/json\r\n",
                f"Content-Length: {len(body)}\r\n",
                "Cache-Control: no-store\r\n"]
        head += [f"{k}: {v}\r\n" for k, v in extra_headers]
        if self.close_connection:
            head.append("Connection: close\r\n")
        head.append("\r\n")
        out = "".join(head).encode()
        if self.command != "HEAD":
            out += body
        self.wfile.write(out)  # one write

    def _discard_body(self):
        n = self.headers.get("Content-Length")
        if n:
            self.rfile.read(int(n))

    def do_GET(self):
        iss = self.server.owner
        path, _, query = self.path.partition("?")
        with iss._lock:
            iss.request_log.append((self.command, self.path,
                                    {k.lower(): v for k, v in self.headers.items()}))
        if path == iss.path + "/.well-known/openid-configuration":
            iss._count("discovery")
            return self._send(200, iss.discovery())
        if path == iss.path + "/jwks":
            iss._count("jwks")
            if iss.jwks_status != 200:
                return self._send(iss.jwks_status, {"error": "unavailable"})
            return self._send(200, iss.jwks())
        if path == "/gha/token":
            iss._count("gha")
            return self._gha(query)
        iss._count("other")
        return self._send(404, {"error": "not found", "path": path})

    do_HEAD = do_GET

    def do_POST(self):
        self._discard_body()
        self.server.owner._count("other")
        self._send(405, {"error": "method not allowed"}, [("Allow", "GET")])

    def _gha(self, query):
        iss = self.server.owner
        auth = self.headers.get("Authorization", "")
        scheme, _, cred = auth.strip().partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(cred.strip().encode(),
                                                                 iss.gha_secret.encode()):
            with iss._lock:
                iss.gha_refused += 1
            return self._send(401, {"message": "Unable to authorize the request"},
                              [("WWW-Authenticate", "Bearer")])
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        asked = params.get("audience", [None])[-1]
        with iss._lock:
            iss.last_gha_audience = asked
            iss.gha_audiences.append(asked)
        claims = iss.gha_claims
        aud = asked or f"https://github.com/{claims.get('repository_owner', 'acme')}"
        self._send(200, {"count": 1, "value": iss.mint(claims, aud=aud)})


class OidcIssuer:
    """An OIDC issuer on 127.0.0.1 (ThreadingHTTPServer, daemon thread), ready on return.

    Keys: "rsa-1" (RSA-2048, RS256) and "ec-1" (P-256, ES256); add_key() publishes more.
    Counters: requests["discovery"|"jwks"|"gha"|"other"]; request_log holds
    (method, path with query, headers) of every GET.
    Knobs: jwks_status (answer /jwks with this status instead of 200), gha_claims."""

    DEFAULT_KIDS = {"RSA": "rsa-1", "ES256": "ec-1"}

    def __init__(self, path="/oidc"):
        path = "/" + path.strip("/") if path.strip("/") else ""
        self.path = path
        self._lock = threading.Lock()
        self.keys = {}          # kid -> {"alg": alg, "key": private key}
        self.add_key("rsa-1", "RS256")
        self.add_key("ec-1", "ES256")
        self.requests = collections.Counter()
        self.request_log = []
        self.jwks_status = 200
        self.gha_secret = secrets.token_urlsafe(24)
        self.gha_refused = 0
        self.gha_audiences = []
        self.last_gha_audience = None
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = self.base + self.path
        self.key_prefix = f"127.0.0.1:{self.port}{self.path}"
        self.gha_claims = self.github_claims()
        self._thread = threading.Thread(target=self.httpd.serve_forever,
                                        name="oidc-issuer", daemon=True)
        self._thread.start()

    # --- life cycle

    def stop(self):
        if self.httpd is None:
            return
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(10)
        self.httpd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _count(self, what):
        with self._lock:
            self.requests[what] += 1

    # --- keys

    def add_key(self, kid, alg="RS256", key=None):
        """Publish a new signing key (rotation). Returns the private key."""
        key = key or new_private_key(alg)
        with self._lock:
            self.keys[kid] = {"alg": alg, "key": key}
        return key

    def remove_key(self, kid):
        """Stop publishing kid (the end of a rotation)."""
        with self._lock:
            self.keys.pop(kid, None)

    @staticmethod
    def stranger_key(alg="RS256"):
        """A private key this issuer never publishes."""
        return new_private_key(alg)

    def public_pem(self, kid="rsa-1"):
        return public_pem(self.keys[kid]["key"])

    def default_kid(self, alg):
        fam = _family(alg)
        if fam in self.DEFAULT_KIDS and self.DEFAULT_KIDS[fam] in self.keys:
            return self.DEFAULT_KIDS[fam]
        for kid, k in self.keys.items():
            if _family(k["alg"]) == fam:
                return kid
        return self.DEFAULT_KIDS["RSA"]  # none / HS*: name the RSA key, as an attacker would

    def jwks(self):
        with self._lock:
            items = list(self.keys.items())
        return {"keys": [public_jwk(k["key"].public_key(), kid, k["alg"]) for kid, k in items]}

    def write_jwks(self, path):
        with open(path, "w") as f:
            json.dump(self.jwks(), f, indent=1)
        return path

    def discovery(self):
        with self._lock:
            algs = sorted({k["alg"] for k in self.keys.values()})
        return {"issuer": self.url, "jwks_uri": self.url + "/jwks",
                "id_token_signing_alg_values_supported": algs,
                "response_types_supported": ["id_token"],
                "subject_types_supported": ["public", "pairwise"],
                "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf"],
                "scopes_supported": ["openid"]}

    # --- claims

    def github_claims(self, repository="acme/app", ref="refs/heads/main", **extra):
        """Claims as GitHub Actions sends them (PROTOCOLS.md 4.1). sub is
        repo:R:ref:REF, or repo:R:environment:E when environment is given; extra adds or
        overrides claims (a value of None removes the claim)."""
        owner = repository.split("/", 1)[0]
        ref_type = "tag" if ref.startswith("refs/tags/") else "branch"
        env = extra.get("environment")
        sub = f"repo:{repository}:environment:{env}" if env else f"repo:{repository}:ref:{ref}"
        sha = hashlib.sha1(f"{repository}@{ref}".encode()).hexdigest()
        wf = f"{repository}/.github/workflows/ci.yml@{ref}"
        run_id = _digits(f"run:{repository}:{ref}:{time.time_ns()}", 10)
        c = {
            "sub": sub,
            "repository": repository,
            "repository_id": _digits("repo:" + repository, 9),
            "repository_owner": owner,
            "repository_owner_id": _digits("owner:" + owner, 8),
            "repository_visibility": "private",
            "ref": ref,
            "ref_type": ref_type,
            "ref_protected": "true" if ref in ("refs/heads/main", "refs/heads/master") else "false",
            "sha": sha,
            "workflow": "CI",
            "workflow_ref": wf,
            "workflow_sha": sha,
            "job_workflow_ref": wf,
            "job_workflow_sha": sha,
            "actor": "octocat",
            "actor_id": "583231",
            "run_id": run_id,
            "run_number": "42",
            "run_attempt": "1",
            "event_name": "push",
            "head_ref": "",
            "base_ref": "",
            "runner_environment": "github-hosted",
        }
        c.update(extra)
        return _drop_none(c)

    def kube_claims(self, namespace="ci", serviceaccount="builder", **extra):
        """A Kubernetes projected service-account token's claims (PROTOCOLS.md 4.3)."""
        pod = f"{serviceaccount}-7d9f8b6c5-x2x9q"
        c = {
            "sub": f"system:serviceaccount:{namespace}:{serviceaccount}",
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": serviceaccount,
                                   "uid": _uuid(f"sa:{namespace}:{serviceaccount}")},
                "pod": {"name": pod, "uid": _uuid(f"pod:{namespace}:{pod}")},
                "node": {"name": "node-1", "uid": _uuid("node:node-1")},
            },
        }
        c.update(extra)
        return _drop_none(c)

    # --- tokens

    def mint(self, claims=None, *, aud="regauth", alg="RS256", kid=None, key=None, lifetime=300,
             iat=None, headers=None, sign_with=None):
        """A compact JWS. Standard claims first (iss=self.url, aud, iat, nbf=iat-5,
        exp=iat+lifetime, jti), then claims (default github_claims()) over them; a claim or
        header given as None is left out. aud=None: no aud claim.

        alg: RS*/PS*/ES* sign with the published key of kid (default: "rsa-1" for RSA algs,
        "ec-1" for ES256), or with key= (any private key: a stranger's, kid still the default
        unless given). "none": "HEADER.PAYLOAD." with no signature. HS256/384/512: HMAC keyed
        with sign_with (bytes; default the PEM of the RSA public key of kid, default
        "rsa-1"): the key-confusion attack."""
        now = int(time.time()) if iat is None else int(iat)
        body = {"iss": self.url, "aud": aud, "iat": now, "nbf": now - 5,
                "exp": now + lifetime, "jti": secrets.token_hex(16)}
        body.update(self.github_claims() if claims is None else claims)
        body = _drop_none(body)
        if kid is None:
            kid = self.default_kid(alg)
        header = {"alg": alg, "typ": "JWT", "kid": kid}
        header.update(headers or {})
        header = _drop_none(header)
        signing_input = f"{b64u(_json(header))}.{b64u(_json(body))}".encode()
        if alg.lower() == "none":
            return signing_input.decode() + "."
        if alg in _HMAC_HASH:
            if sign_with is None:
                src = self.keys.get(kid) or self.keys["rsa-1"]
                sign_with = public_pem(src["key"])
            if isinstance(sign_with, str):
                sign_with = sign_with.encode()
            sig = hmac.new(sign_with, signing_input, _HMAC_HASH[alg]).digest()
        else:
            if key is None:
                entry = self.keys.get(kid)
                if entry is None:
                    raise ValueError(f"no published key {kid!r}: pass key= to sign with a "
                                     "key of your own")
                key = entry["key"]
            sig = _sign(alg, key, signing_input)
        return f"{signing_input.decode()}.{b64u(sig)}"

    # --- GitHub Actions runner endpoint

    def actions_env(self):
        """The two variables a GitHub runner sets for a job with id-token: write."""
        return {"ACTIONS_ID_TOKEN_REQUEST_URL": f"{self.base}/gha/token?api-version=2.0",
                "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.gha_secret}


def _uuid(text):
    h = hashlib.sha256(text.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


if __name__ == "__main__":
    # Manual use: serve an issuer and print a GitHub-shaped token; Ctrl-C stops it.
    iss = OidcIssuer()
    print("issuer", iss.url)
    print("token ", iss.mint())
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        iss.stop()
