"""Self-test of the local OIDC issuer (oidc_issuer.py) the federation tests rely on: its
discovery and JWKS over HTTP, tokens that PyJWT verifies against the served JWKS, and the bad
tokens (alg none, HS256 keyed with the public key, stranger keys, wrong times) shaped exactly
as intended, so a server refusing them is refusing what the test meant. No regauthd here."""

import base64
import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from oidc_issuer import OidcIssuer


def get_json(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.headers["Content-Type"] == "application/json"
        return r.status, json.loads(r.read())


def b64d(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def split(token):
    h, p, s = token.split(".")
    return json.loads(b64d(h)), json.loads(b64d(p)), s


def served_keys(iss):
    """kid -> PyJWK, from the JWKS fetched over HTTP via discovery (not from the object)."""
    status, disc = get_json(iss.url + "/.well-known/openid-configuration")
    assert status == 200
    client = jwt.PyJWKClient(disc["jwks_uri"], cache_keys=False, cache_jwk_set=False)
    return {k.key_id: k for k in client.get_signing_keys()}


def verify(iss, token, aud="regauth", **kw):
    keys = served_keys(iss)
    header = jwt.get_unverified_header(token)
    # a correct verifier: the algorithms the issuer's keys are for, never the token's say-so
    return jwt.decode(token, keys[header["kid"]].key, algorithms=["RS256", "ES256"], audience=aud,
                      issuer=iss.url, options={"require": ["exp", "iat", "nbf", "iss", "aud"]},
                      **kw)


@pytest.fixture
def iss():
    i = OidcIssuer()
    try:
        yield i
    finally:
        i.stop()


def test_discovery_and_jwks(iss):
    assert iss.url == f"http://127.0.0.1:{iss.port}/oidc"
    assert iss.key_prefix == f"127.0.0.1:{iss.port}/oidc"
    status, disc = get_json(iss.url + "/.well-known/openid-configuration")
    assert status == 200
    assert disc["issuer"] == iss.url
    assert disc["jwks_uri"] == iss.url + "/jwks"
    assert set(disc["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
    for k in ("response_types_supported", "subject_types_supported"):
        assert isinstance(disc[k], list) and disc[k]
    status, jwks = get_json(disc["jwks_uri"])
    by_kid = {k["kid"]: k for k in jwks["keys"]}
    assert set(by_kid) == {"rsa-1", "ec-1"}
    rsa_k, ec_k = by_kid["rsa-1"], by_kid["ec-1"]
    assert (rsa_k["kty"], rsa_k["alg"], rsa_k["use"], rsa_k["e"]) == ("RSA", "RS256", "sig", "AQAB")
    assert len(b64d(rsa_k["n"])) == 256
    assert (ec_k["kty"], ec_k["alg"], ec_k["use"], ec_k["crv"]) == ("EC", "ES256", "sig", "P-256")
    assert len(b64d(ec_k["x"])) == len(b64d(ec_k["y"])) == 32
    assert not any("d" in k or "p" in k for k in jwks["keys"]), "private parts published"
    assert iss.jwks() == jwks
    assert iss.requests["discovery"] == 1 and iss.requests["jwks"] == 1
    # unknown paths: 404, counted as other
    with pytest.raises(urllib.error.HTTPError) as e:
        get_json(iss.base + "/oidc/nope")
    assert e.value.code == 404
    assert iss.requests["other"] == 1


def test_write_jwks(iss, tmp_path):
    path = iss.write_jwks(tmp_path / "jwks.json")
    assert json.loads(open(path).read()) == iss.jwks()
    assert iss.requests["jwks"] == 0  # written, not fetched


def test_github_token_verifies(iss):
    tok = iss.mint()
    claims = verify(iss, tok)
    header, _, _ = split(tok)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": "rsa-1"}
    assert claims["iss"] == iss.url
    assert claims["aud"] == "regauth"
    assert claims["sub"] == "repo:acme/app:ref:refs/heads/main"
    assert claims["repository"] == "acme/app"
    assert claims["repository_owner"] == "acme"
    assert claims["ref"] == "refs/heads/main" and claims["ref_type"] == "branch"
    for k in ("repository_id", "repository_owner_id", "sha", "workflow", "job_workflow_ref",
              "actor", "run_id", "event_name", "runner_environment", "jti"):
        assert isinstance(claims[k], str) and claims[k], k
    assert "environment" not in claims
    assert claims["nbf"] == claims["iat"] - 5
    assert claims["exp"] == claims["iat"] + 300
    assert abs(claims["iat"] - time.time()) < 5
    # a different repository has a different id; jti differs per token
    other = iss.github_claims("acme/other", "refs/tags/v1")
    assert other["sub"] == "repo:acme/other:ref:refs/tags/v1"
    assert other["ref_type"] == "tag"
    assert other["repository_id"] != claims["repository_id"]
    assert split(iss.mint())[1]["jti"] != claims["jti"]
    env = iss.github_claims(environment="prod")
    assert env["sub"] == "repo:acme/app:environment:prod" and env["environment"] == "prod"
    assert "actor" not in iss.github_claims(actor=None)


def test_es256_and_audiences(iss):
    tok = iss.mint(alg="ES256", aud=["regauth", "other"])
    header, _, sig = split(tok)
    assert header["kid"] == "ec-1"
    assert len(b64d(sig)) == 64  # JOSE r||s, not DER
    claims = verify(iss, tok, aud="other")
    assert claims["aud"] == ["regauth", "other"]
    with pytest.raises(jwt.InvalidAudienceError):
        verify(iss, iss.mint(aud="someone-else"))
    assert "aud" not in split(iss.mint(aud=None))[1]


def test_kube_token(iss):
    c = iss.kube_claims("ci", "builder")
    claims = verify(iss, iss.mint(c, aud=["regauth"], lifetime=3600))
    assert claims["sub"] == "system:serviceaccount:ci:builder"
    k = claims["kubernetes.io"]
    assert k["namespace"] == "ci"
    assert k["serviceaccount"]["name"] == "builder" and k["serviceaccount"]["uid"]
    assert k["pod"]["name"] and k["pod"]["uid"]
    assert claims["exp"] - claims["iat"] == 3600


def test_times_and_overrides(iss):
    now = int(time.time())
    old = iss.mint(iat=now - 1000, lifetime=300)
    with pytest.raises(jwt.ExpiredSignatureError):
        verify(iss, old, leeway=60)
    c = split(old)[1]
    assert (c["iat"], c["nbf"], c["exp"]) == (now - 1000, now - 1005, now - 700)
    # claims override the standard ones; None removes
    tok = iss.mint({"sub": "x", "iss": "http://elsewhere", "exp": None})
    c = split(tok)[1]
    assert c["iss"] == "http://elsewhere" and "exp" not in c and c["sub"] == "x"
    # headers merge; None removes
    h = split(iss.mint(headers={"typ": None, "x-extra": 1}))[0]
    assert h == {"alg": "RS256", "kid": "rsa-1", "x-extra": 1}


def test_alg_none_shape(iss):
    tok = iss.mint(alg="none")
    h, p, s = tok.split(".")
    assert s == "" and tok.endswith(".")
    assert json.loads(b64d(h))["alg"] == "none"
    assert json.loads(b64d(p))["iss"] == iss.url
    with pytest.raises(jwt.InvalidTokenError):
        verify(iss, tok)


def test_hs256_key_confusion_shape(iss):
    tok = iss.mint(alg="HS256")
    h, p, s = tok.split(".")
    header = json.loads(b64d(h))
    assert header["alg"] == "HS256" and header["kid"] == "rsa-1"
    # the HMAC key is exactly the PEM of the RSA public key the JWKS publishes
    pem = served_keys(iss)["rsa-1"].key.public_bytes(
        serialization.Encoding.PEM,
        serialization.PublicFormat.SubjectPublicKeyInfo)
    assert pem == iss.public_pem("rsa-1")
    want = hmac.new(pem, f"{h}.{p}".encode(), hashlib.sha256).digest()
    assert b64d(s) == want
    # PyJWT itself refuses HS256 with a PEM key; a verifier restricted to RS256 refuses it
    with pytest.raises(jwt.InvalidTokenError):
        verify(iss, tok)
    with pytest.raises(jwt.InvalidTokenError):
        jwt.decode(tok, served_keys(iss)["rsa-1"].key, algorithms=["RS256"], audience="regauth")
    other = iss.mint(alg="HS256", sign_with=b"secret")
    h2, p2, s2 = other.split(".")
    assert b64d(s2) == hmac.new(b"secret", f"{h2}.{p2}".encode(), hashlib.sha256).digest()


def test_stranger_key_and_rotation(iss):
    stranger = iss.stranger_key()
    forged = iss.mint(key=stranger)  # the published kid over another key's signature
    assert split(forged)[0]["kid"] == "rsa-1"
    with pytest.raises(jwt.InvalidSignatureError):
        verify(iss, forged)
    unknown = iss.mint(key=stranger, kid="stranger-1")
    assert "stranger-1" not in served_keys(iss)
    # the stranger's own public key verifies it: the token is well-formed, only untrusted
    jwt.decode(unknown, stranger.public_key(), algorithms=["RS256"], audience="regauth")
    with pytest.raises(ValueError):
        iss.mint(kid="stranger-1")  # no key to sign with
    iss.add_key("rsa-2")
    iss.add_key("ec-2", "ES256")
    assert {"rsa-1", "rsa-2", "ec-1", "ec-2"} == set(served_keys(iss))
    verify(iss, iss.mint(kid="rsa-2"))
    verify(iss, iss.mint(alg="ES256", kid="ec-2"))
    iss.remove_key("rsa-1")
    assert "rsa-1" not in served_keys(iss)
    assert split(iss.mint())[0]["kid"] == "rsa-2"  # the default moves to a published key


def test_jwks_status_knob(iss):
    iss.jwks_status = 503
    with pytest.raises(urllib.error.HTTPError) as e:
        get_json(iss.url + "/jwks")
    assert e.value.code == 503


def test_gha_endpoint(iss):
    env = iss.actions_env()
    url = env["ACTIONS_ID_TOKEN_REQUEST_URL"]
    assert url == f"{iss.base}/gha/token?api-version=2.0"
    secret = env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"]
    # the runner's default audience
    _, body = get_json(url, {"Authorization": f"bearer {secret}"})
    claims = verify(iss, body["value"], aud="https://github.com/acme")
    assert claims["sub"] == "repo:acme/app:ref:refs/heads/main"
    assert iss.last_gha_audience is None
    # an audience asked as the toolkit does (appended to the query); scheme case-insensitive
    _, body = get_json(url + "&audience=regauth%2Be2e", {"Authorization": f"Bearer {secret}"})
    assert verify(iss, body["value"], aud="regauth+e2e")["aud"] == "regauth+e2e"
    assert iss.last_gha_audience == "regauth+e2e"
    # gha_claims is what the endpoint signs
    iss.gha_claims = iss.github_claims("acme/other", "refs/heads/dev")
    _, body = get_json(url + "&audience=x", {"Authorization": f"BEARER {secret}"})
    assert verify(iss, body["value"], aud="x")["repository"] == "acme/other"
    assert iss.requests["gha"] == 3
    # wrong or missing bearer: 401, nothing minted
    for hdrs in ({"Authorization": "bearer wrong"}, {}, {"Authorization": f"Basic {secret}"},
                 {"Authorization": f"bearer {secret}x"}):
        with pytest.raises(urllib.error.HTTPError) as e:
            get_json(url + "&audience=y", hdrs)
        assert e.value.code == 401
        assert "value" not in json.loads(e.value.read())
    assert iss.gha_refused == 4
    assert iss.last_gha_audience == "x"


def test_session_fixture(oidc_issuer):
    assert oidc_issuer.url.startswith("http://127.0.0.1:")
    verify(oidc_issuer, oidc_issuer.mint())
