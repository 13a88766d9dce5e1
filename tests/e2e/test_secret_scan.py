"""The session-end secret scan (support.scan_logs, run by conftest's pytest_sessionfinish) can
fail: fed fake logs holding a registered secret, it reports the log, the line and the kind
(never the secret); fed logs without one, it reports them clean. Registries of its own: the
session's SECRETS and LOGS are not touched, and no leaking log is left in the suite."""

import base64
import json
import secrets

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import support as S


def fresh():
    return S.SecretRegistry(), S.LogRegistry()


def fake_jwt():
    def part(obj):
        return S.b64u(json.dumps(obj).encode())
    return ".".join([part({"alg": "ES256", "typ": "JWT"}),
                     part({"sub": "alice", "token_use": "login", "jti": secrets.token_hex(16)}),
                     S.b64u(secrets.token_bytes(64))])


def write_log(path, lines):
    path.write_text("".join(ln + "\n" for ln in lines))
    return path


def scan(sec, logs):
    return S.scan_logs(sec, logs, discover=False)


@pytest.fixture(params=["grep", "python"])
def engine(request, monkeypatch):
    """Both ways of searching: grep -F, and the Python fallback used without grep."""
    if request.param == "python":
        real = S.shutil.which
        monkeypatch.setattr(S.shutil, "which", lambda n, *a, **k: None if n == "grep"
                            else real(n, *a, **k))
    return request.param


def test_a_registered_password_in_a_log_is_reported(tmp_path, engine):
    sec, logs = fresh()
    pw = "pw-" + secrets.token_hex(12)
    sec.add(pw, "password")
    log = write_log(tmp_path / "regauthd.log", [
        '{"level":"info","msg":"serving"}',
        '{"level":"info","path":"/token","status":200}',
        '{"level":"debug","msg":"checking password %s"}' % pw,
    ])
    logs.add_file(log, "log of regauthd")
    res = scan(sec, logs)
    assert [(h[0], h[2], h[3]) for h in res.hits] == [("log of regauthd", 3, "password")]
    assert res.hits[0][4] == S.secret_digest(pw)
    report = "\n".join(res.report_lines() + [res.summary()])
    assert pw not in report and str(log) in report and ":3: password" in report
    assert ": 1 found" in res.summary()


def test_a_log_without_secrets_is_clean(tmp_path, engine):
    sec, logs = fresh()
    sec.add("pw-" + secrets.token_hex(12), "password")
    sec.add_jwt(fake_jwt(), "login token")
    logs.add_file(write_log(tmp_path / "clean.log", ['{"msg":"ok"}'] * 50), "log of clean")
    logs.add_text("stderr of `regauthd user add`", b"user alice added\n")
    res = scan(sec, logs)
    assert res.hits == []
    assert res.logs == 2 and res.bytes > 0 and res.secrets >= 4
    assert ": 0 found" in res.summary()


def test_a_token_cut_short_and_captured_stderr(tmp_path, engine):
    """Only the signature (or only the payload) of a JWT in a log is found, and so is a
    secret in a captured stderr (no file of its own)."""
    sec, logs = fresh()
    tok = fake_jwt()
    sec.add_jwt(tok, "registry token")  # its claims say login token: the kind follows them
    _, payload, sig = tok.split(".")
    logs.add_file(write_log(tmp_path / "a.log", ["x", "y", "token ...." + sig + " end"]), "a")
    logs.add_text("stderr of `docker-credential-regauth get`",
                  f"debug: exchanged, got {payload}\n".encode())
    res = scan(sec, logs)
    assert sorted((h[0], h[2], h[3]) for h in res.hits) == [
        ("a", 3, "login token (signature)"),
        ("stderr of `docker-credential-regauth get`", 1, "login token (payload)")]
    assert all(h[1] == "(captured stderr)" for h in res.hits if h[0] != "a")


def test_a_private_key_line_in_a_json_log(tmp_path, engine):
    sec, logs = fresh()
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    sec.add_pem(pem, "service-account private key")
    # a JSON log escapes newlines: the whole PEM never matches, its lines do
    line = json.dumps({"msg": "loaded key", "key": pem})
    logs.add_file(write_log(tmp_path / "k.log", [line]), "k")
    res = scan(sec, logs)
    assert res.hits and {h[3] for h in res.hits} == {"service-account private key"}
    assert all(h[2] == 1 for h in res.hits)


def test_escaped_forms_short_values_and_basic(tmp_path, engine):
    sec, logs = fresh()
    pw = f"p:w:{secrets.token_hex(8)}-\u00e9\u00df"
    sec.add(pw, "password")
    sec.add("short", "password")           # under 12 characters: counted, not searched
    sec.add_authorization("Basic " + base64.b64encode(b"bob:" + secrets.token_hex(8).encode())
                          .decode())
    blob = next(v.decode() for v, k in sec.values.items() if k == "Basic credentials")
    logs.add_file(write_log(tmp_path / "e.log", [
        json.dumps({"password": pw}),               # JSON-escaped, \u00e9
        "Authorization: Basic " + blob,             # the header as sent
        "nothing here: short",
    ]), "e")
    res = scan(sec, logs)
    assert sorted((h[2], h[3]) for h in res.hits) == [(1, "password"), (2, "Basic credentials")]
    assert res.skipped == 1


def test_a_missing_log_is_counted_not_fatal(tmp_path):
    sec, logs = fresh()
    sec.add(secrets.token_hex(16), "password")
    logs.add_file(tmp_path / "gone.log", "log of gone")
    res = scan(sec, logs)
    assert res.hits == [] and res.missing == ["log of gone"] and res.logs == 0
