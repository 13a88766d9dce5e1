"""Failed-login limits (CONTRACT.md, "Refusals"), driven against the session regauthd with
its default settings: 10 failed passwords for one user in a minute lock that user's
password logins for the rest of the minute, 100 failures from one address lock that
address, and login tokens keep working. Each test sends from fresh loopback addresses and
uses throwaway users, so no lock reaches another test."""

import re
import secrets
import time
import urllib.parse

import pytest

import support as S

PER_USER = 10
PER_ADDRESS = 100
FORM = "application/x-www-form-urlencoded"


pytestmark = pytest.mark.usefixtures("keeps_serving")


def fresh_users(regauthd, n):
    """n new users (name, password), live after one SIGHUP. The reload is awaited with a
    sentinel user of its own: a failed login for a name not yet loaded counts too."""
    users = []
    for _ in range(n + 1):
        name, pw = f"rl{secrets.token_hex(4)}", secrets.token_hex(12)
        regauthd.cli("user", "add", "-c", regauthd.dir, name, "--password-stdin",
                     "--policy", "readonly", input=(pw + "\n").encode())
        users.append((name, pw))
    regauthd.reload()
    sentinel, spw = users.pop()
    deadline = time.time() + 10
    while basic_get(regauthd, sentinel, spw, S.next_loopback()).status != 200:
        assert time.time() < deadline, "new users never worked after SIGHUP"
        time.sleep(0.1)
    return users


def same_window(seconds_needed):
    """The limits count per wall-clock minute: start a burst early enough in one."""
    if 60 - time.time() % 60 < seconds_needed:
        time.sleep(60 - time.time() % 60 + 0.2)


def basic_get(regauthd, user, password, source, extra=()):
    q = urllib.parse.urlencode([("service", S.SERVICE)] + list(extra))
    return regauthd.request("GET", f"/token?{q}", source=source,
                            headers={"Authorization": S.basic(user, password)})


def post(regauthd, path, form, source):
    return regauthd.request("POST", path, source=source, headers={"Content-Type": FORM},
                            body=urllib.parse.urlencode(form).encode())


def assert_locked(reply):
    assert reply.status == 429, reply
    assert reply.headers.get("Content-Type", "").startswith("application/json"), reply.headers
    assert reply.json() == {"errors": [{"code": "TOO_MANY_REQUESTS",
                                        "message": "too many failed logins; try again later"}]}
    ra = reply.headers.get("Retry-After", "")
    assert re.fullmatch(r"[0-9]+", ra) and 1 <= int(ra) <= 60, f"Retry-After {ra!r}"
    assert "WWW-Authenticate" not in reply.headers


def test_user_locked_after_ten_failed_passwords(regauthd):
    (victim, vpw), (other, opw) = fresh_users(regauthd, 2)
    addr = S.next_loopback()
    same_window(15)
    # A login token obtained before the lock (from another address).
    r = basic_get(regauthd, victim, vpw, S.next_loopback(), extra=[("offline_token", "true")])
    regauthd.verify_reply(r, "GET", [])
    rt = r.json()["refresh_token"]
    log_at = regauthd.daemon.log_size()
    for i in range(PER_USER):
        r = basic_get(regauthd, victim, f"wrong-{i}", addr)
        assert r.status == 401, (i, r)
    # The 11th attempt is refused before the password is looked at, even the right one,
    # from this address and from any other, on /token and on /v1/login.
    assert_locked(basic_get(regauthd, victim, vpw, addr))
    assert_locked(basic_get(regauthd, victim, vpw, S.next_loopback()))
    assert_locked(post(regauthd, "/v1/login", [("grant_type", "password"),
                                               ("username", victim), ("password", vpw)],
                       S.next_loopback()))
    assert_locked(post(regauthd, "/token", [("grant_type", "password"), ("username", victim),
                                            ("password", vpw), ("service", S.SERVICE),
                                            ("client_id", "e2e")], S.next_loopback()))
    # The login token keeps working: as a refresh token and as a Basic password.
    r = post(regauthd, "/token", [("grant_type", "refresh_token"), ("refresh_token", rt),
                                  ("service", S.SERVICE), ("client_id", "e2e")], addr)
    regauthd.verify_reply(r, "POST", [])
    regauthd.verify_reply(basic_get(regauthd, victim, rt, addr), "GET", [])
    regauthd.verify_reply(basic_get(regauthd, "<token>", rt, addr), "GET", [])
    # Another user from the same address is not affected.
    regauthd.verify_reply(basic_get(regauthd, other, opw, addr), "GET", [])
    # One log line says the lock started; no secret in the log.
    recs = [x for x in regauthd.log_records(log_at)
            if "too many failed logins" in str(x.get("msg", ""))]
    assert [x.get("user") for x in recs] == [victim], recs
    assert recs[0]["client"] == addr and 1 <= recs[0]["seconds"] <= 60, recs
    text = regauthd.daemon.log_text(log_at)
    assert vpw not in text and rt not in text and "wrong-" not in text


def test_address_locked_after_hundred_failures(regauthd):
    (user, pw), = fresh_users(regauthd, 1)
    addr, bystander = S.next_loopback(), S.next_loopback()
    same_window(15)
    rt = post(regauthd, "/token", [("grant_type", "password"), ("username", user),
                                   ("password", pw), ("service", S.SERVICE),
                                   ("client_id", "e2e"), ("access_type", "offline")],
              S.next_loopback()).json()["refresh_token"]
    log_at = regauthd.daemon.log_size()
    # Cheap failures: refresh tokens that are not ours, and bad assertions, all counted.
    for i in range(PER_ADDRESS - 1):
        r = post(regauthd, "/token", [("grant_type", "refresh_token"),
                                      ("refresh_token", f"not.a.token{i}"),
                                      ("service", S.SERVICE), ("client_id", "e2e")], addr)
        assert r.status == 401, (i, r)
    r = post(regauthd, "/v1/login", [("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                                     ("assertion", "bad.assertion.x")], addr)
    assert r.status == 401, r
    # Locked: a password login from it, even the right one; an assertion; a bad token.
    assert_locked(basic_get(regauthd, user, pw, addr))
    assert_locked(post(regauthd, "/v1/login", [("grant_type", "password"),
                                               ("username", user), ("password", pw)], addr))
    assert_locked(post(regauthd, "/token", [("grant_type", "refresh_token"),
                                            ("refresh_token", "still.not.ours"),
                                            ("service", S.SERVICE), ("client_id", "e2e")],
                       addr))
    # A valid login token still works from it.
    r = post(regauthd, "/token", [("grant_type", "refresh_token"), ("refresh_token", rt),
                                  ("service", S.SERVICE), ("client_id", "e2e")], addr)
    regauthd.verify_reply(r, "POST", [])
    # The user is not locked, and other addresses are unaffected.
    regauthd.verify_reply(basic_get(regauthd, user, pw, bystander), "GET", [])
    recs = [x for x in regauthd.log_records(log_at)
            if "too many failed logins" in str(x.get("msg", ""))]
    assert [x.get("address") for x in recs] == [addr], recs
