"""Policies deciding real pushes and pulls: skopeo against the real registry, whose token
realm is regauthd behind the verifying proxy. Each test adds its own users and policy files
at test time (`regauthd user add`, `regauthd repo-policy set`, files in policies/), reloads
the server with SIGHUP and waits for it. Also `regauthd policy simulate` (the deciding file,
Sid and line) and `repo-policy set`'s validation."""

import json
import secrets
import urllib.parse

import pytest

import support as S

DENIED = "requested access to the resource is denied"


# ---------------------------------------------------------------------------------------
# helpers


reload_and_wait = S.reload_and_wait


def new_user(regauthd, prefix, policies=()):
    """A user with a password and the given identity policies (none: only repository
    policies can grant it anything). Returns (name, password)."""
    name, pw = f"{prefix}{secrets.token_hex(3)}", secrets.token_hex(12)
    args = ["user", "add", "-c", regauthd.dir, name, "--password-stdin"]
    for p in policies:
        args += ["--policy", p]
    regauthd.cli(*args, input=(pw + "\n").encode())
    return name, pw


def write_policy(regauthd, name, doc, indent=None):
    path = regauthd.dir / "policies" / f"{name}.json"
    path.write_text(json.dumps(doc, indent=indent) + "\n")
    return path


def account(regauthd):
    return json.loads((regauthd.dir / "regauthd.json").read_text()).get("account",
                                                                         "000000000000")


def push(skopeo, registry, image, env, repo, user, pw, check=True):
    return S.run([skopeo, "copy", "--dest-tls-verify=false", "--dest-creds", f"{user}:{pw}",
                  image["ref"], f"docker://{registry.host}/{repo}:e2e"], env=env, check=check)


def pull(skopeo, registry, image, env, repo, user, pw, dest, check=True):
    res = S.run([skopeo, "copy", "--src-tls-verify=false", "--src-creds", f"{user}:{pw}",
                 f"docker://{registry.host}/{repo}:e2e", f"oci:{dest}:v1"], env=env,
                check=check)
    if check:
        layer = image["layer"].split(":")[1]
        assert (dest / "blobs" / "sha256" / layer).is_file(), "the pulled layer is missing"
    return res


def assert_refused(res, registry, reg_off, what):
    assert res.returncode != 0, f"{what}: should have been refused\n{res.out}\n{res.err}"
    assert DENIED in res.err or "denied" in res.err.lower(), \
        f"{what}: the client error does not say denied:\n{res.err}"
    assert "insufficient scope" in registry.log_since(reg_off), \
        f"{what}: the registry log shows no 'insufficient scope'"


def direct_token(regauthd, scopes, user, pw, source=None, xff=None):
    """GET /token straight to regauthd (not through the proxy) from `source`, optionally
    with an X-Forwarded-For header. Returns the granted access, normalised."""
    headers = {"Authorization": S.basic(user, pw)}
    if xff is not None:
        headers["X-Forwarded-For"] = xff
    params = [("service", regauthd.service)] + [("scope", s) for s in scopes]
    r = regauthd.request("GET", "/token?" + urllib.parse.urlencode(params), headers=headers,
                         source=source)
    claims = regauthd.verify_reply(r, "GET", list(scopes))
    return S.normalize_access(claims["access"])


def simulate(regauthd, principal, *scopes, context=(), json_out=False):
    args = ["policy", "simulate", "-c", regauthd.dir, "--principal", principal]
    for s in scopes:
        args += ["--scope", s]
    for c in context:
        args += ["--context", c]
    if json_out:
        args.append("--json")
    return regauthd.cli(*args, check=False)


# ---------------------------------------------------------------------------------------
# (a) repository policies: ECR-style and native


def test_ecr_and_native_repository_policies_decide_skopeo(regauthd, registry, oci_image,
                                                         client_env, skopeo_bin, tmp_path):
    tag = secrets.token_hex(3)
    ecr_user, ecr_pw = new_user(regauthd, "ecr")
    nat_user, nat_pw = new_user(regauthd, "nat")
    ecr_repo, nat_repo = f"ecr-{tag}/app", f"native-{tag}/app"
    ecr_doc = {"Version": "2012-10-17", "Statement": [{
        "Sid": "AllowPushPull", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{account(regauthd)}:user/{ecr_user}"},
        "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
                   "ecr:BatchCheckLayerAvailability", "ecr:PutImage",
                   "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
                   "ecr:CompleteLayerUpload"]}]}
    nat_doc = {"Version": "2012-10-17", "Statement": [{
        "Sid": "Native", "Effect": "Allow", "Principal": {"regauth": [f"user/{nat_user}"]},
        "Action": "registry:*"}]}
    (tmp_path / "ecr.json").write_text(json.dumps(ecr_doc))
    (tmp_path / "native.json").write_text(json.dumps(nat_doc))
    for pattern, f in ((f"ecr-{tag}/*", "ecr.json"), (f"native-{tag}/*", "native.json")):
        res = regauthd.cli("repo-policy", "set", "-c", regauthd.dir, pattern, tmp_path / f)
        assert res.returncode == 0, res.err
    files = {p.name: p for p in (regauthd.dir / "repositories").glob("*.json")}
    mine = [p for p in files.values()
            if json.loads(p.read_text())["repositories"][0].endswith(f"-{tag}/*")]
    assert len(mine) == 2, sorted(files)
    for p in mine:
        assert p.stat().st_mode & 0o777 == 0o600, oct(p.stat().st_mode)
    reload_and_wait(regauthd)

    # each user pushes and pulls through its repository policy alone
    push(skopeo_bin, registry, oci_image, client_env, ecr_repo, ecr_user, ecr_pw)
    pull(skopeo_bin, registry, oci_image, client_env, ecr_repo, ecr_user, ecr_pw,
         tmp_path / "ecr-pulled")
    push(skopeo_bin, registry, oci_image, client_env, nat_repo, nat_user, nat_pw)
    pull(skopeo_bin, registry, oci_image, client_env, nat_repo, nat_user, nat_pw,
         tmp_path / "nat-pulled")
    # and nowhere else: neither in the other's repositories nor outside them
    for user, pw, repo in ((ecr_user, ecr_pw, f"native-{tag}/x"),
                           (nat_user, nat_pw, f"ecr-{tag}/x"),
                           (ecr_user, ecr_pw, f"elsewhere-{tag}/x")):
        off = registry.log_size()
        res = push(skopeo_bin, registry, oci_image, client_env, repo, user, pw, check=False)
        assert_refused(res, registry, off, f"{user} -> {repo}")
    off = registry.log_size()
    res = pull(skopeo_bin, registry, oci_image, client_env, nat_repo, ecr_user, ecr_pw,
               tmp_path / "not-pulled", check=False)
    assert_refused(res, registry, off, f"{ecr_user} pulls {nat_repo}")


# ---------------------------------------------------------------------------------------
# (b) an explicit Deny beats an Allow


def test_deny_on_prod_beats_allow_on_team(regauthd, registry, oci_image, client_env,
                                          skopeo_bin):
    pol = f"team-prod-{secrets.token_hex(3)}"
    write_policy(regauthd, pol, {"Version": "2012-10-17", "Statement": [
        {"Sid": "TeamA", "Effect": "Allow", "Action": ["registry:Pull", "registry:Push"],
         "Resource": "repository/team-a/*"},
        {"Sid": "NoProdPush", "Effect": "Deny", "Action": "registry:Push",
         "Resource": "repository/team-a/prod*"}]}, indent=2)
    user, pw = new_user(regauthd, "prod", [pol])
    reload_and_wait(regauthd)
    off = registry.log_size()
    res = push(skopeo_bin, registry, oci_image, client_env, "team-a/prod-api", user, pw,
               check=False)
    assert_refused(res, registry, off, f"{user} -> team-a/prod-api")
    assert DENIED in res.err, res.err
    push(skopeo_bin, registry, oci_image, client_env, "team-a/dev-api", user, pw)
    # simulate agrees, and names the Deny
    res = simulate(regauthd, f"user/{user}", "repository:team-a/prod-api:push",
                   "repository:team-a/dev-api:push")
    assert res.returncode == 1, res
    lines = res.out.splitlines()
    assert lines[0].split()[:3] == ["repository:team-a/prod-api:push", "Deny",
                                    f"policies/{pol}.json"], lines
    assert "Sid=NoProdPush" in lines[0], lines
    assert lines[1].split()[:2] == ["repository:team-a/dev-api:push", "Allow"], lines
    assert "Sid=TeamA" in lines[1], lines


# ---------------------------------------------------------------------------------------
# (c) ${aws:username}: a namespace per user


def test_username_variable_gives_each_user_a_namespace(regauthd, registry, oci_image,
                                                       client_env, skopeo_bin):
    pol = f"home-{secrets.token_hex(3)}"
    write_policy(regauthd, pol, {"Version": "2012-10-17", "Statement": [
        {"Sid": "Home", "Effect": "Allow", "Action": ["registry:Pull", "registry:Push"],
         "Resource": "repository/users/${aws:username}/*"}]})
    u1, p1 = new_user(regauthd, "ns", [pol])
    u2, p2 = new_user(regauthd, "ns", [pol])
    reload_and_wait(regauthd)
    for (me, pw), other in (((u1, p1), u2), ((u2, p2), u1)):
        push(skopeo_bin, registry, oci_image, client_env, f"users/{me}/x", me, pw)
        off = registry.log_size()
        res = push(skopeo_bin, registry, oci_image, client_env, f"users/{other}/x", me, pw,
                   check=False)
        assert_refused(res, registry, off, f"{me} -> users/{other}/x")


# ---------------------------------------------------------------------------------------
# (d) aws:SourceIp behind the trusted proxy


def token_log(regauthd, since, n, user):
    """The /token lines of `user` in regauthd's log since `since`, once there are `n` (a
    request is logged when its connection completes, just after the client has its answer,
    so lines may arrive late and out of order)."""
    recs = []

    def enough():
        recs[:] = [r for r in regauthd.log_records(since)
                   if r.get("path") == "/token" and r.get("principal") == f"user/{user}"]
        return len(recs) >= n

    S.wait_until(enough, 10, f"{n} /token lines in regauthd's log", regauthd.daemon)
    return recs


def test_source_ip_condition_sees_the_client_behind_the_proxy(regauthd, registry, oci_image,
                                                              client_env, skopeo_bin,
                                                              token_proxy):
    tag = secrets.token_hex(3)
    pol = f"ip-{tag}"
    write_policy(regauthd, pol, {"Version": "2012-10-17", "Statement": [
        {"Sid": "Loopback", "Effect": "Allow", "Action": ["registry:Pull", "registry:Push"],
         "Resource": f"repository/ipok-{tag}/*",
         "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/24"}}},
        {"Sid": "Office", "Effect": "Allow", "Action": ["registry:Pull", "registry:Push"],
         "Resource": f"repository/ipno-{tag}/*",
         "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}}]})
    user, pw = new_user(regauthd, "ip", [pol])
    reload_and_wait(regauthd)
    # The proxy connects from its own address, outside 127.0.0.0/24: only the client's
    # address from X-Forwarded-For (skopeo connects from 127.0.0.1) can match the policy.
    assert not regauthd.proxy_source.startswith("127.0.0."), regauthd.proxy_source
    log0, n0 = regauthd.daemon.log_size(), token_proxy.count()
    push(skopeo_bin, registry, oci_image, client_env, f"ipok-{tag}/app", user, pw)
    relayed = len([r for r in token_proxy.records_since(n0) if r.path == "/token"])
    assert relayed, "skopeo fetched no token"
    tokens = token_log(regauthd, log0, relayed, user)
    assert all(r.get("client") == "127.0.0.1" and r.get("peer") == regauthd.proxy_source
               for r in tokens), tokens
    off = registry.log_size()
    res = push(skopeo_bin, registry, oci_image, client_env, f"ipno-{tag}/app", user, pw,
               check=False)
    assert_refused(res, registry, off, f"{user} -> ipno-{tag}/app (10.0.0.0/8 only)")

    ok, no = f"repository:ipok-{tag}/x:pull", f"repository:ipno-{tag}/x:pull"

    def pulled(name):
        return [{"type": "repository", "name": name, "actions": ["pull"]}]
    # the trusted proxy's header is believed ...
    assert direct_token(regauthd, [ok, no], user, pw, source=regauthd.proxy_source,
                        xff="10.1.2.3") == pulled(f"ipno-{tag}/x")
    # ... an untrusted sender's is not (it is not in 127.0.0.0/24 nor 10.0.0.0/8) ...
    spoofer = S.next_loopback()
    assert direct_token(regauthd, [ok, no], user, pw, source=spoofer,
                        xff="127.0.0.1") == []
    assert direct_token(regauthd, [ok, no], user, pw, source=spoofer,
                        xff="10.1.2.3") == []
    # ... and a header that names no address leaves the client unknown: nothing matches
    assert direct_token(regauthd, [ok, no], user, pw, source=regauthd.proxy_source,
                        xff="127.0.0.1, not-an-address") == []
    proxied = len([r for r in token_proxy.records_since(n0) if r.path == "/token"])
    recs = token_log(regauthd, log0, proxied + 4, user)
    by_client = {}
    for r in recs:
        by_client.setdefault((r["client"], r.get("peer")), []).append(r)
    assert sorted((k, len(v)) for k, v in by_client.items()) == sorted([
        (("127.0.0.1", regauthd.proxy_source), proxied),
        (("10.1.2.3", regauthd.proxy_source), 1),
        ((spoofer, None), 2),
        (("-", regauthd.proxy_source), 1)]), recs
    # simulate takes the address from --context
    res = simulate(regauthd, f"user/{user}", no, context=["aws:SourceIp=10.9.9.9"])
    assert res.returncode == 0 and " Allow " in res.out and "Sid=Office" in res.out, res
    res = simulate(regauthd, f"user/{user}", no)
    assert res.returncode == 1 and "ImplicitDeny" in res.out, res


# ---------------------------------------------------------------------------------------
# policy simulate and repo-policy set on the command line


def test_simulate_names_the_frozen_deny(regauthd):
    pol = f"frozen-{secrets.token_hex(3)}"
    doc = {"Version": "2012-10-17", "Statement": [
        {"Sid": "TeamA", "Effect": "Allow", "Action": ["registry:Pull", "registry:Push"],
         "Resource": "repository/team-a/*"},
        {"Sid": "DenyFrozen", "Effect": "Deny", "Action": "registry:Push",
         "Resource": "repository/team-a/frozen"}]}
    path = write_policy(regauthd, pol, doc, indent=2)
    text = path.read_text().splitlines()
    # the statement's line: its opening brace, just above its first member
    sid_line = next(i for i, ln in enumerate(text, 1) if "\"Sid\": \"DenyFrozen\"" in ln)
    assert text[sid_line - 2].strip() == "{", text
    want_line = sid_line - 1
    user, _ = new_user(regauthd, "sim", [pol])

    res = simulate(regauthd, f"user/{user}", "repository:team-a/frozen:pull,push")
    assert res.returncode == 1, res
    lines = res.out.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith("repository:team-a/frozen:pull  Allow  "
                               f"policies/{pol}.json Sid=TeamA line "), lines
    assert lines[1] == (f"repository:team-a/frozen:push  Deny  policies/{pol}.json "
                        f"Sid=DenyFrozen line {want_line}"), lines

    res = simulate(regauthd, f"user/{user}", "repository:team-a/frozen:push", json_out=True)
    assert res.returncode == 1, res
    out = json.loads(res.out)
    assert out["allowed"] is False and out["principal"] == f"user/{user}"
    [r] = out["results"]
    assert r["scope"] == "repository:team-a/frozen:push" and r["decision"] == "Deny", r
    assert r["statements"] == [{"file": f"policies/{pol}.json", "kind": "identity",
                                "sid": "DenyFrozen", "statement": 1, "line": want_line}], r

    # alice's policy (conftest) has no Sid and is one line
    res = simulate(regauthd, "user/alice", "repository:team-a/frozen:push", json_out=True)
    [st] = json.loads(res.out)["results"][0]["statements"]
    assert st == {"file": "policies/team-a-dev.json", "kind": "identity", "sid": None,
                  "statement": 1, "line": 1}, st
    # everything allowed: exit 0
    res = simulate(regauthd, "user/alice", "repository:team-a/app:pull,push")
    assert res.returncode == 0, res
    assert [ln.split()[1] for ln in res.out.splitlines()] == ["Allow", "Allow"], res.out
    # unknown principal: exit 1, one line
    res = simulate(regauthd, "user/nobody-here", "repository:team-a/app:pull")
    assert res.returncode == 1 and res.err.startswith("regauthd: ") and \
        len(res.err.splitlines()) == 1, res


def test_repo_policy_set_validates_and_replaces(regauthd, tmp_path):
    pattern = f"checked-{secrets.token_hex(3)}/*"
    repos = regauthd.dir / "repositories"
    before = sorted(p.name for p in repos.glob("*.json"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "allow", "Principal": "*", "Action": "registry:Pull"}]}))
    res = regauthd.cli("repo-policy", "set", "-c", regauthd.dir, pattern, bad, check=False)
    assert res.returncode == 1, res
    assert len(res.err.splitlines()) == 1 and res.err.startswith(f"regauthd: {bad}:"), res.err
    assert "Effect" in res.err, res.err
    nopr = tmp_path / "no-principal.json"
    nopr.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "registry:Pull"}]}))
    res = regauthd.cli("repo-policy", "set", "-c", regauthd.dir, pattern, nopr, check=False)
    assert res.returncode == 1 and "Principal" in res.err, res.err
    notjson = tmp_path / "not.json"
    notjson.write_text("{")
    res = regauthd.cli("repo-policy", "set", "-c", regauthd.dir, pattern, notjson, check=False)
    assert res.returncode == 1 and res.err.startswith("regauthd: "), res.err
    res = regauthd.cli("repo-policy", "set", "-c", regauthd.dir, "Bad Pattern!", bad,
                       check=False)
    assert res.returncode == 1 and "pattern" in res.err, res.err
    res = regauthd.cli("repo-policy", "set", "-c", regauthd.dir, pattern, check=False)
    assert res.returncode == 2, res
    assert sorted(p.name for p in repos.glob("*.json")) == before, "a refused policy was written"

    # set twice: one file, holding the second policy
    for sid in ("First", "Second"):
        good = tmp_path / f"{sid}.json"
        good.write_text(json.dumps({"Version": "2012-10-17", "Statement": [
            {"Sid": sid, "Effect": "Allow", "Principal": "*", "Action": "registry:Pull"}]}))
        res = regauthd.cli("repo-policy", "set", "-c", regauthd.dir, pattern, good)
        assert res.returncode == 0, res
    added = sorted(set(p.name for p in repos.glob("*.json")) - set(before))
    assert len(added) == 1, added
    held = json.loads((repos / added[0]).read_text())
    assert held["repositories"] == [pattern]
    assert held["policy"]["Statement"][0]["Sid"] == "Second", held
    # and the server loads what was written
    reload_and_wait(regauthd)


# ---------------------------------------------------------------------------------------
# the context keys regauthd sets (POLICY.md), each seen by a condition


def test_context_keys_are_set_as_documented(regauthd):
    tag = secrets.token_hex(3)
    pol = f"ctx-{tag}"
    user, pw = f"ctx{tag}", secrets.token_hex(12)
    checks = {
        "type": {"StringEquals": {"aws:PrincipalType": "User"}},
        "userid": {"StringEquals": {"aws:userid": f"user/{user}"}},
        "arn": {"StringLike": {"aws:PrincipalArn": f"arn:regauth:iam::*:user/{user}"}},
        "username": {"StringEquals": {"aws:username": user}},
        "tag": {"StringEquals": {"aws:PrincipalTag/team": "blue"}},
        "client": {"StringEquals": {"regauth:ClientId": "ctx-client"}},
        "service": {"StringEquals": {"regauth:Service": regauthd.service}},
        "repo": {"StringEquals": {"regauth:Repository": f"ctx-{tag}/repo"}},
        "method": {"StringEquals": {"regauth:AuthMethod": "password"}},
        "time": {"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"},
                 "DateLessThan": {"aws:CurrentTime": "2100-01-01T00:00:00Z"}},
        "epoch": {"NumericGreaterThan": {"aws:EpochTime": "1577836800"}},
        "ip": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8",
                             "regauth:SourceIp": "127.0.0.0/8"}},
    }
    write_policy(regauthd, pol, {"Version": "2012-10-17", "Statement": [
        {"Sid": k.capitalize(), "Effect": "Allow", "Action": "registry:Pull",
         "Resource": f"repository/ctx-{tag}/{k}", "Condition": c}
        for k, c in checks.items()]})
    regauthd.cli("user", "add", "-c", regauthd.dir, user, "--password-stdin", "--policy", pol,
                 "--tag", "team=blue", input=(pw + "\n").encode())
    reload_and_wait(regauthd)
    scopes = [f"repository:ctx-{tag}/{k}:pull" for k in checks]
    r = regauthd.token_get([("service", regauthd.service), ("client_id", "ctx-client")] +
                           [("scope", s) for s in scopes], user=user, password=pw)
    claims = regauthd.verify_reply(r, "GET", scopes)
    granted = sorted(a["name"].split("/")[1] for a in S.normalize_access(claims["access"]))
    assert granted == sorted(checks), granted
    # another client_id: that statement no longer applies
    r = regauthd.token_get([("service", regauthd.service), ("client_id", "other")] +
                           [("scope", s) for s in scopes], user=user, password=pw)
    claims = regauthd.verify_reply(r, "GET", scopes)
    granted = sorted(a["name"].split("/")[1] for a in S.normalize_access(claims["access"]))
    assert granted == sorted(set(checks) - {"client"}), granted
    # simulate builds the same context (no address unless given)
    res = simulate(regauthd, f"user/{user}", *scopes,
                   context=["regauth:ClientId=ctx-client", "aws:SourceIp=127.0.0.1",
                            "regauth:SourceIp=127.0.0.1"])
    assert res.returncode == 0, res
    res = simulate(regauthd, f"user/{user}", f"repository:ctx-{tag}/ip:pull",
                   f"repository:ctx-{tag}/client:pull")
    assert res.returncode == 1 and res.out.count("ImplicitDeny") == 2, res
