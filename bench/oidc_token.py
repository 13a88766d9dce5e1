#!/usr/bin/python3
"""make bench: an RS256 OIDC issuer's JWKS and one GitHub-shaped token.

usage: oidc_token.py ISSUER AUDIENCE JWKS_OUT  (the token on stdout)
"""
import base64
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa


def b64(n):
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def main():
    issuer, aud, out = sys.argv[1:4]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pub = key.public_key().public_numbers()
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"keys": [{"kty": "RSA", "kid": "bench", "alg": "RS256", "use": "sig",
                             "n": b64(pub.n), "e": b64(pub.e)}]}, f)
    now = int(time.time())
    claims = {"iss": issuer, "aud": aud, "sub": "repo:acme/app:ref:refs/heads/main",
              "repository": "acme/app", "repository_id": "4242", "repository_owner": "acme",
              "ref": "refs/heads/main", "ref_type": "branch", "sha": "0" * 40,
              "workflow": "build", "actor": "octocat", "run_id": "1", "event_name": "push",
              "iat": now, "nbf": now - 5, "exp": now + 3600}
    print(jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench"}))


if __name__ == "__main__":
    main()
