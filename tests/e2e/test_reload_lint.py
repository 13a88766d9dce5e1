"""A policy file that lint calls an error is refused on SIGHUP with FILE:LINE:COLUMN in the
log, the running configuration keeps serving unchanged, and `policy check` names the same
place; removing the file and reloading again works."""

import time

import support as S

BROKEN = (
    '{\n'
    '  "Version": "2012-10-17",\n'
    '  "Statement": [{"Effect": "allow", "Action": "registry:Pull", "Resource": "*"}]\n'
    '}\n'
)
SCOPES = ["repository:team-a/app:pull,push", "repository:team-a/frozen:pull,push",
          "repository:team-b/app:pull"]


def access_of(regauthd, user):
    params = [("service", S.SERVICE)] + [("scope", s) for s in SCOPES]
    reply = regauthd.token_get(params, user=user)
    claims = regauthd.verify_reply(reply, "GET", SCOPES)
    return S.normalize_access(claims["access"])


def wait_for(regauthd, off, text, what):
    deadline = time.time() + 10
    while text not in regauthd.daemon.log_text(off):
        assert time.time() < deadline, f"{what} never appeared in the log"
        time.sleep(0.05)


def test_reload_names_file_line_and_keeps_serving(regauthd):
    before = access_of(regauthd, "alice")
    assert before, "alice should be granted something on team-a"
    bad = regauthd.dir / "policies" / "zz.json"
    off = regauthd.daemon.log_size()
    bad.write_text(BROKEN)
    try:
        regauthd.reload()
        wait_for(regauthd, off, "zz.json:3:", "the error naming zz.json:3:")
        errs = [r for r in regauthd.log_records(off) if r.get("level") == "error"]
        assert errs, regauthd.daemon.log_text(off)
        msg = errs[0]["msg"]
        assert msg.startswith("policies/zz.json:3:"), msg
        assert "Effect" in msg and "allow" in msg, msg
        assert "configuration reloaded" not in regauthd.daemon.log_text(off)
        assert access_of(regauthd, "alice") == before

        lint = regauthd.cli("policy", "check", "-c", regauthd.dir, check=False)
        assert lint.returncode == 1, lint
        lines = [ln for ln in lint.out.splitlines() if "zz.json:3:" in ln]
        assert lines and ": error: INVALID_EFFECT: " in lines[0], lint.out
    finally:
        bad.unlink()
        off = regauthd.daemon.log_size()
        regauthd.reload()
    wait_for(regauthd, off, "configuration reloaded", "the reload after the fix")
    assert access_of(regauthd, "alice") == before
    assert regauthd.alive()
