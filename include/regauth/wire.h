/*
 * What regauthd and docker-credential-regauth must agree on: endpoint paths,
 * grant-type strings, audiences, key-file fields and environment variables.
 */
#ifndef REGAUTH_WIRE_H
#define REGAUTH_WIRE_H

#define REGAUTH_VERSION "0.1.0"

/* Endpoints of regauthd. */
#define REGAUTH_PATH_TOKEN   "/token"
#define REGAUTH_PATH_LOGIN   "/v1/login"
#define REGAUTH_PATH_JWKS    "/.well-known/jwks.json"
#define REGAUTH_PATH_CERTS   "/v1/certs"
#define REGAUTH_PATH_INFO    "/v1/info"
#define REGAUTH_PATH_HEALTHZ "/healthz"
#define REGAUTH_PATH_METRICS "/metrics"

/* OAuth2 grant types. */
#define REGAUTH_GRANT_PASSWORD   "password"
#define REGAUTH_GRANT_REFRESH    "refresh_token"
#define REGAUTH_GRANT_JWT_BEARER "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define REGAUTH_GRANT_EXCHANGE   "urn:ietf:params:oauth:grant-type:token-exchange"
#define REGAUTH_TOKEN_TYPE_JWT   "urn:ietf:params:oauth:token-type:jwt"
#define REGAUTH_TOKEN_TYPE_ID_TOKEN "urn:ietf:params:oauth:token-type:id_token"
#define REGAUTH_TOKEN_TYPE_ACCESS "urn:ietf:params:oauth:token-type:access_token"

/*
 * A login token's audience. No registry `service` may use it (config refuses
 * one that does), so a login token can never pass as a registry token.
 */
#define REGAUTH_LOGIN_AUDIENCE "urn:regauth:login"
/* Claim that marks a login token; registry tokens never carry it. */
#define REGAUTH_CLAIM_TOKEN_USE "token_use"
#define REGAUTH_TOKEN_USE_LOGIN "login"
/* Claim of a login token made from a service-account key: that key's id. */
#define REGAUTH_CLAIM_KEY_ID "key_id"

/* docker's identity-token convention (PROTOCOLS.md 1.4). */
#define REGAUTH_TOKEN_USERNAME "<token>"

/* Service-account key file. */
#define REGAUTH_KEYFILE_TYPE "regauth_service_account"

/* Environment variables of the helper. */
#define REGAUTH_ENV_SERVER     "REGAUTH_SERVER"
#define REGAUTH_ENV_KEY_FILE   "REGAUTH_KEY_FILE"
#define REGAUTH_ENV_CONFIG     "REGAUTH_CONFIG"
#define REGAUTH_ENV_CACHE_DIR  "REGAUTH_CACHE_DIR"
#define REGAUTH_ENV_NO_CACHE   "REGAUTH_NO_CACHE"
#define REGAUTH_ENV_LOG        "REGAUTH_LOG"
#define REGAUTH_ENV_OIDC_TOKEN      "REGAUTH_OIDC_TOKEN"
#define REGAUTH_ENV_OIDC_TOKEN_FILE "REGAUTH_OIDC_TOKEN_FILE"
#define REGAUTH_ENV_OIDC_AUDIENCE   "REGAUTH_OIDC_AUDIENCE"
#define REGAUTH_ENV_ROLE            "REGAUTH_ROLE"
/* GitHub Actions (PROTOCOLS.md 4.1), detected without configuration. */
#define REGAUTH_ENV_GHA_URL   "ACTIONS_ID_TOKEN_REQUEST_URL"
#define REGAUTH_ENV_GHA_TOKEN "ACTIONS_ID_TOKEN_REQUEST_TOKEN"

/*
 * Token exchange (RFC 8693) at /v1/login: the role to assume, and the
 * optional session name (else derived from the token's sub).
 */
#define REGAUTH_FORM_ROLE    "role"
#define REGAUTH_FORM_SESSION "session"
/* Login-token claims of a federated session. */
#define REGAUTH_CLAIM_SESSION "session"
#define REGAUTH_CLAIM_ROLE    "role"
#define REGAUTH_CLAIM_OIDC    "oidc"		/* the flattened claims */
#define REGAUTH_CLAIM_OIDC_ISSUER "oidc_issuer"

/* The kubelet credential provider (PROTOCOLS.md 3). */
#define REGAUTH_KUBELET_API      "credentialprovider.kubelet.k8s.io/v1"
#define REGAUTH_KUBELET_USERNAME "regauth"

#endif
