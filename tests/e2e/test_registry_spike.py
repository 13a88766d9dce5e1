#!/usr/bin/python3
"""Spike: a token made by regauth's own key set and signer is accepted by a
real docker-registry 2.8.2, and verifies under an independent implementation.

build/tests/mint_token (tests/unit/mint_token.c: keys_create, keys_load,
keys_sign) writes DIR/keys and prints a token. This test then

  * verifies it with PyJWT using the public key of the x5c leaf, and checks
    the header (alg, typ, kid = RFC 7638 thumbprint computed here, x5c) and
    the claims;
  * checks with python3-cryptography that the leaf is signed by the CA in
    DIR/keys/bundle.pem;
  * starts docker-registry with rootcertbundle = DIR/keys/bundle.pem (the
    TESTBED.md configuration) and checks that GET /v2/REPO/tags/list is
    authorized with the token (404 NAME_UNKNOWN or 200), refused with
    invalid_token for a token from an untrusted key set, and refused with
    insufficient_scope for a token naming another repository.

Runs under pytest (test_registry_accepts_handmade_token) or standalone:
/usr/bin/python3 tests/e2e/test_registry_spike.py
"""
import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MINT = os.environ.get("MINT_TOKEN", os.path.join(ROOT, "build", "tests", "mint_token"))
REGISTRY = os.environ.get("DOCKER_REGISTRY", "/usr/bin/docker-registry")
ISSUER = "spike-issuer"
SERVICE = "spike-registry"
REPO = "spike/app"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_tool():
    """The mint_token binary; built with make when missing (never skipped)."""
    if not os.path.exists(MINT):
        subprocess.run(["make", "-s", "-C", ROOT, "build/tests/mint_token"], check=False)
    assert os.path.exists(MINT), "%s missing: make build/tests/mint_token" % MINT
    return MINT


def mint(directory, repo, issuer=ISSUER):
    out = subprocess.run([mint_tool(), directory, issuer, SERVICE, repo],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, "mint_token failed: %s" % out.stderr
    return out.stdout.strip()


def rfc7638_thumbprint(public_key):
    nums = public_key.public_numbers()
    members = {"crv": "P-256", "kty": "EC",
               "x": b64url(nums.x.to_bytes(32, "big")),
               "y": b64url(nums.y.to_bytes(32, "big"))}
    canon = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canon.encode()).digest())


def check_token(token, keys_dir):
    """Header, signature and claims, checked without regauth's code."""
    head_b64, _, _ = token.split(".")
    header = json.loads(b64url_decode(head_b64))
    assert header["alg"] == "ES256", header
    assert header["typ"] == "JWT", header
    assert isinstance(header["x5c"], list) and len(header["x5c"]) == 1, header
    # x5c is standard base64 with padding (RFC 7515 4.1.6), not base64url.
    leaf = x509.load_der_x509_certificate(base64.b64decode(header["x5c"][0], validate=True))
    leaf_key = leaf.public_key()
    assert isinstance(leaf_key, ec.EllipticCurvePublicKey)
    assert leaf_key.curve.name == "secp256r1"
    assert header["kid"] == rfc7638_thumbprint(leaf_key), header["kid"]
    # Raw R||S signature: 64 bytes.
    assert len(b64url_decode(token.rsplit(".", 1)[1])) == 64

    claims = jwt.decode(token, key=leaf_key, algorithms=["ES256"],
                        audience=SERVICE, issuer=ISSUER)
    assert claims["sub"] == "spike"
    assert claims["aud"] == SERVICE          # a string, as registry 2.8 requires
    assert claims["exp"] - claims["iat"] == 300
    assert claims["nbf"] == claims["iat"] - 30
    assert abs(claims["iat"] - time.time()) < 60
    assert len(claims["jti"]) == 32 and int(claims["jti"], 16) >= 0
    assert claims["access"] == [{"type": "repository", "name": REPO,
                                 "actions": ["pull", "push"]}]

    # The leaf chains to the CA of bundle.pem.
    with open(os.path.join(keys_dir, "bundle.pem"), "rb") as f:
        ca = x509.load_pem_x509_certificate(f.read())
    assert leaf.issuer == ca.subject
    ca.public_key().verify(leaf.signature, leaf.tbs_certificate_bytes,
                           ec.ECDSA(leaf.signature_hash_algorithm))
    ca_bc = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert ca_bc.critical and ca_bc.value.ca
    leaf_bc = leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    assert not leaf_bc.value.ca
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert leaf.not_valid_before.timestamp() < time.time() - 3000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url, token=None):
    """(status, headers, body) of a GET, errors included."""
    req = urllib.request.Request(url)
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read().decode()


def start_registry(tmp, bundle):
    port = free_port()
    config = os.path.join(tmp, "registry.yml")
    with open(config, "w") as f:
        f.write("""version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: %s/storage
http:
  addr: 127.0.0.1:%d
  secret: spike-secret
auth:
  token:
    realm: http://127.0.0.1:1/token
    service: %s
    issuer: %s
    rootcertbundle: %s
""" % (tmp, port, SERVICE, ISSUER, bundle))
    log = open(os.path.join(tmp, "registry.log"), "w")
    proc = subprocess.Popen([REGISTRY, "serve", config], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    base = "http://127.0.0.1:%d" % port
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            break
        try:
            status, _, _ = request(base + "/v2/")
            if status == 401:
                return proc, base
        except OSError:
            pass
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    with open(os.path.join(tmp, "registry.log")) as f:
        raise AssertionError("docker-registry did not start:\n" + f.read())


def registry_log(tmp):
    with open(os.path.join(tmp, "registry.log")) as f:
        return f.read()


def test_registry_accepts_handmade_token():
    assert os.path.exists(REGISTRY), "docker-registry is not installed"
    tmp = tempfile.mkdtemp(prefix="spike_token.")
    proc = None
    try:
        trusted = os.path.join(tmp, "trusted")
        untrusted = os.path.join(tmp, "untrusted")
        token = mint(trusted, REPO)
        keys_dir = os.path.join(trusted, "keys")
        assert oct(os.stat(keys_dir).st_mode & 0o777) == "0o700"
        for name in ("ca.key", "signing.key"):
            assert oct(os.stat(os.path.join(keys_dir, name)).st_mode & 0o777) == "0o600"
        check_token(token, keys_dir)

        proc, base = start_registry(tmp, os.path.join(keys_dir, "bundle.pem"))
        url = "%s/v2/%s/tags/list" % (base, REPO)

        # No token: the challenge names our service.
        status, headers, _ = request(url)
        assert status == 401
        assert 'service="%s"' % SERVICE in headers["Www-Authenticate"]

        # Our token: authorized (the repository does not exist yet).
        status, headers, body = request(url, token)
        assert status in (200, 404), (status, body, registry_log(tmp))
        if status == 404:
            assert json.loads(body)["errors"][0]["code"] == "NAME_UNKNOWN", body

        # A token from another CA and key: invalid_token.
        bad = mint(untrusted, REPO)
        status, headers, body = request(url, bad)
        assert status == 401, (status, body)
        assert 'error="invalid_token"' in headers["Www-Authenticate"], headers

        # A token for another repository: insufficient_scope.
        other = mint(trusted, "spike/other")
        status, headers, body = request(url, other)
        assert status == 401, (status, body)
        assert 'error="insufficient_scope"' in headers["Www-Authenticate"], headers

        # A tampered token (claims of one, signature of another): invalid_token.
        h, _, s = token.split(".")
        forged = ".".join([h, other.split(".")[1], s])
        status, headers, _ = request("%s/v2/spike/other/tags/list" % base, forged)
        assert status == 401
        assert 'error="invalid_token"' in headers["Www-Authenticate"]

        # The registry's own words for the first and the refused ones.
        log = registry_log(tmp)
        assert "authorized request" in log, log
        assert "unable to verify certificate chain" in log, log
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    test_registry_accepts_handmade_token()
    print("spike_token: registry accepted the token")
