#!/usr/bin/python3
"""The deployment examples of docs/deploy/ are valid and say what the docs say.

Usage: python3 tests/cases/deploy.py [bin/regauthd] [-v]

- Every *.yml/*.yaml parses (python3-yaml); Kubernetes objects have
  apiVersion, kind and metadata.name.
- kubernetes/: a Deployment of 3 replicas, non-root, read-only root file
  system, liveness and readiness probes on /healthz, resources; keys/ a
  projected volume combining a ConfigMap and a Secret; a PodDisruptionBudget
  and a Service selecting its pods; Redis. The init container's script,
  run on a configuration laid out as the kubelet lays out ConfigMap and
  Secret volumes (a "..data" link, files 0440), makes a directory that
  `regauthd serve` loads and answers /healthz from; config.sh (when kubectl
  is installed) puts private keys and password hashes in Secrets only.
- registry-config.yml: auth.token with the four string keys the registry
  requires (realm, service, issuer, rootcertbundle), as TESTBED.md shows.
- regauthd.service: `systemd-analyze verify` passes without a warning (on a
  copy whose ExecStart is this build), the hardening is there; skipped, and
  said so, where systemd-analyze is missing. regauthd.logrotate signals
  SIGUSR1.
Exits 1 on any failure, and when nothing passed.
"""
import glob
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEPLOY = os.path.join(ROOT, "docs", "deploy")


class Checks:
    def __init__(self, verbose):
        self.verbose = verbose
        self.passed = 0
        self.failed = []
        self.skipped = []

    def ok(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            if self.verbose:
                print("ok    %s" % what)
        else:
            self.failed.append(what + (": " + detail if detail else ""))
            print("FAIL  %s%s" % (what, ": " + detail if detail else ""))
        return cond

    def skip(self, what, why):
        self.skipped.append(what)
        print("skipped: %s (%s)" % (what, why))


def load_yaml_files(c):
    docs = {}
    files = sorted(glob.glob(os.path.join(DEPLOY, "**", "*.y*ml"),
                             recursive=True))
    c.ok(len(files) >= 6, "docs/deploy holds the YAML examples",
         "%d files" % len(files))
    for path in files:
        rel = os.path.relpath(path, ROOT)
        try:
            with open(path, encoding="utf-8") as f:
                docs[rel] = [d for d in yaml.safe_load_all(f) if d is not None]
        except yaml.YAMLError as e:
            c.ok(False, "%s parses" % rel, str(e))
            continue
        c.ok(bool(docs[rel]), "%s parses" % rel)
    return docs


def k8s_objects(c, docs):
    objs = []
    for rel, ds in docs.items():
        if "/kubernetes/" not in rel or rel.endswith("kustomization.yaml"):
            continue
        for d in ds:
            good = (isinstance(d, dict) and "apiVersion" in d and "kind" in d
                    and isinstance(d.get("metadata"), dict)
                    and d["metadata"].get("name"))
            c.ok(good, "%s: %s has apiVersion, kind, metadata.name"
                 % (rel, d.get("kind") if isinstance(d, dict) else d))
            if good:
                objs.append(d)
    return objs


def find(objs, kind, name=None):
    return [o for o in objs if o["kind"] == kind and
            (name is None or o["metadata"]["name"] == name)]


def selects(selector, labels):
    want = (selector or {}).get("matchLabels") or selector or {}
    return bool(want) and all(labels.get(k) == v for k, v in want.items())


def check_kubernetes(c, objs, binary):
    deps = find(objs, "Deployment", "regauthd")
    if not c.ok(len(deps) == 1, "kubernetes: one Deployment regauthd"):
        return
    dep = deps[0]
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    c.ok(spec.get("replicas") == 3, "Deployment has 3 replicas",
         str(spec.get("replicas")))
    c.ok(selects(spec["selector"], labels), "Deployment selector matches its pods")
    psc = pod.get("securityContext", {})
    c.ok(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0,
         "pods run as non-root")
    main = [x for x in pod["containers"] if x["name"] == "regauthd"]
    if not c.ok(len(main) == 1, "a container named regauthd"):
        return
    main = main[0]
    for probe in ("livenessProbe", "readinessProbe"):
        p = main.get(probe, {}).get("httpGet", {})
        c.ok(p.get("path") == "/healthz", "%s on /healthz" % probe, str(p))
    for ctr in pod["containers"] + pod.get("initContainers", []):
        sc = ctr.get("securityContext", {})
        c.ok(sc.get("readOnlyRootFilesystem") is True and
             sc.get("allowPrivilegeEscalation") is False,
             "%s: read-only root file system, no privilege escalation"
             % ctr["name"])
        c.ok("requests" in ctr.get("resources", {}) and
             "limits" in ctr.get("resources", {}),
             "%s: resource requests and limits" % ctr["name"])
    args = main.get("args", [])
    c.ok(args[:1] == ["serve"] and "-c" in args, "regauthd serve -c DIR", str(args))
    vols = {v["name"]: v for v in pod["volumes"]}
    keys = vols.get("keys", {}).get("projected", {}).get("sources", [])
    c.ok(any("configMap" in s for s in keys) and any("secret" in s for s in keys),
         "keys/ is a projected volume combining a ConfigMap and a Secret")
    pdbs = find(objs, "PodDisruptionBudget")
    c.ok(any(selects(p["spec"]["selector"], labels) for p in pdbs),
         "a PodDisruptionBudget selects the regauthd pods")
    svcs = find(objs, "Service", "regauthd")
    c.ok(any(selects(s["spec"]["selector"], labels) for s in svcs),
         "Service regauthd selects the pods")
    port = main["ports"][0]["containerPort"]
    c.ok(any(p.get("targetPort") in ("http", port)
             for s in svcs for p in s["spec"]["ports"]),
         "Service targets the container port")
    c.ok(bool(find(objs, "Deployment", "regauth-redis")) and
         bool(find(objs, "Service", "regauth-redis")),
         "Redis for the replay cache (Deployment and Service)")
    init = [x for x in pod.get("initContainers", []) if x["name"] == "config"]
    if c.ok(len(init) == 1, "an init container assembles the configuration"):
        run_init_script(c, init[0], pod, binary)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def atomic_volume(path, files):
    """Lay out files as the kubelet does: ..TS/ real, ..data link, links."""
    os.makedirs(path)
    ts = os.path.join(path, "..2026_11_29_12_00_00.000000001")
    os.makedirs(ts)
    for name, src in files.items():
        dst = os.path.join(ts, name)
        shutil.copyfile(src, dst)
        os.chmod(dst, 0o440)
        os.symlink(os.path.join("..data", name), os.path.join(path, name))
    os.symlink(os.path.basename(ts), os.path.join(path, "..data"))


def run_init_script(c, init, pod, binary):
    """The init container's script on kubelet-like volumes, then serve."""
    cmd = init.get("command", [])
    if not c.ok(cmd[:2] == ["/bin/sh", "-ec"] and len(cmd) == 3,
                "init container runs a /bin/sh -ec script"):
        return
    tmp = tempfile.mkdtemp(prefix="regauth-deploy-")
    proc = None
    try:
        src = os.path.join(tmp, "init")
        r = subprocess.run([binary, "init", src, "--service", "registry",
                            "--listen", "127.0.0.1:5001"],
                           capture_output=True, text=True, timeout=60)
        if not c.ok(r.returncode == 0, "regauthd init for the simulation",
                    r.stderr.strip()):
            return
        mounts = {m["name"]: m["mountPath"] for m in init["volumeMounts"]}
        root = os.path.join(tmp, "fs")
        layout = {
            "settings": {"regauthd.json": "regauthd.json"},
            "keys": {n: "keys/" + n for n in os.listdir(os.path.join(src, "keys"))
                     if n != "ca.key"},
        }
        for d in ("users", "policies", "groups"):
            layout[d] = {n: d + "/" + n for n in os.listdir(os.path.join(src, d))}
        for vol, path in mounts.items():
            if vol == "config":
                os.makedirs(root + path)
                continue
            files = {n: os.path.join(src, rel)
                     for n, rel in layout.get(vol, {}).items()}
            atomic_volume(root + path, files)   # optional ones: empty
        # Move every mount path, and the folders holding them, under root.
        paths = set(mounts.values())
        paths |= {os.path.dirname(p) for p in paths} - {"/"}
        alt = "|".join(re.escape(p) for p in sorted(paths, key=len, reverse=True))
        script = re.sub(r"(?<![\w/.-])(%s)(?=[/\"\s]|$)" % alt,
                        lambda m: root + m.group(1), cmd[2])
        env = dict(os.environ, PATH=os.path.dirname(os.path.abspath(binary))
                   + ":" + os.environ.get("PATH", "/usr/bin:/bin"))
        r = subprocess.run(["/bin/sh", "-ec", script], capture_output=True,
                           text=True, timeout=60, env=env)
        if not c.ok(r.returncode == 0, "init container script succeeds",
                    (r.stdout + r.stderr).strip()[:500]):
            return
        cfg = os.path.join(root + mounts["config"], "config")
        key = os.path.join(cfg, "keys", "signing.key")
        c.ok(os.path.isfile(key) and not os.path.islink(key) and
             stat.S_IMODE(os.stat(key).st_mode) & 0o077 == 0,
             "copied signing key is a private regular file")
        c.ok(not os.path.exists(os.path.join(cfg, "keys", "ca.key")),
             "the CA key is not in the pod")
        port = free_port()
        log = open(os.path.join(tmp, "serve.log"), "w+")
        proc = subprocess.Popen([binary, "serve", "-c", cfg, "--listen",
                                 "127.0.0.1:%d" % port],
                                stdout=log, stderr=log)
        body, deadline = None, time.time() + 10
        while time.time() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/healthz"
                                            % port, timeout=2) as resp:
                    body = resp.read().decode().strip()
                break
            except OSError:
                time.sleep(0.1)
        log.seek(0)
        c.ok(body == "ok", "regauthd serves the assembled directory (/healthz ok)",
             log.read()[-500:])
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def check_config_sh(c, binary):
    script = os.path.join(DEPLOY, "kubernetes", "config.sh")
    if not c.ok(os.path.isfile(script), "kubernetes/config.sh exists"):
        return
    if shutil.which("kubectl") is None:
        c.skip("config.sh run", "kubectl is not installed")
        return
    tmp = tempfile.mkdtemp(prefix="regauth-deploy-")
    try:
        src = os.path.join(tmp, "cfg")
        subprocess.run([binary, "init", src], capture_output=True, timeout=60,
                       check=True)
        r = subprocess.run(["/bin/sh", script, src], capture_output=True,
                           text=True, timeout=120)
        if not c.ok(r.returncode == 0, "config.sh runs", r.stderr.strip()[:500]):
            return
        objs = {(d["kind"], d["metadata"]["name"]): d
                for d in yaml.safe_load_all(r.stdout) if d}
        secrets = {n for k, n in objs if k == "Secret"}
        c.ok({"regauth-keys", "regauth-user-passwords"} <= secrets,
             "private keys and password hashes go in Secrets", str(sorted(objs)))
        for (kind, name), d in objs.items():
            data = d.get("data") or {}
            if kind == "ConfigMap":
                c.ok(not any(k.endswith(".key") for k in data) and
                     not any("password" in v for v in data.values()),
                     "ConfigMap %s holds no key and no password hash" % name)
        c.ok(not any("ca.key" in (d.get("data") or {}) for d in objs.values()),
             "config.sh never exports the CA key")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def check_registry(c, docs):
    ds = docs.get("docs/deploy/registry-config.yml")
    if not c.ok(bool(ds), "docs/deploy/registry-config.yml exists"):
        return
    tok = ((ds[0].get("auth") or {}).get("token") or {})
    for k in ("realm", "service", "issuer", "rootcertbundle"):
        c.ok(isinstance(tok.get(k), str) and tok[k] != "",
             "registry auth.token.%s is a string" % k)
    c.ok(str(tok.get("realm", "")).endswith("/token"), "realm is regauthd's /token")
    c.ok(str(ds[0].get("version")) == "0.1", "registry config version 0.1")
    http = ds[0].get("http") or {}
    c.ok(isinstance(http.get("secret"), str), "registry http.secret set")


def unit_settings(path):
    out = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith(("#", ";", "[")) and "=" in line:
                k, v = line.split("=", 1)
                out.setdefault(k.strip(), []).append(v.strip())
    return out


def check_systemd(c, binary):
    unit = os.path.join(DEPLOY, "regauthd.service")
    if not c.ok(os.path.isfile(unit), "docs/deploy/regauthd.service exists"):
        return
    s = unit_settings(unit)
    one = lambda k: (s.get(k) or [""])[-1]
    c.ok(one("Type") == "simple", "Type=simple")
    c.ok(re.search(r"regauthd serve -c /etc/regauth --watch$", one("ExecStart"))
         is not None, "ExecStart: regauthd serve -c /etc/regauth --watch")
    c.ok("-HUP" in one("ExecReload") and "$MAINPID" in one("ExecReload"),
         "ExecReload sends SIGHUP")
    for k, v in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                 ("PrivateTmp", "yes"), ("CapabilityBoundingSet", ""),
                 ("ReadOnlyPaths", "/etc/regauth")):
        c.ok(one(k) == v, "%s=%s" % (k, v), one(k))
    c.ok("@system-service" in s.get("SystemCallFilter", []),
         "SystemCallFilter=@system-service")
    c.ok(one("RestrictAddressFamilies") != "", "RestrictAddressFamilies set")
    c.ok(one("User") != "" and one("User") != "root", "runs as its own user")
    with open(os.path.join(DEPLOY, "regauthd.logrotate"), encoding="utf-8") as f:
        lr = f.read()
    logs = one("LogsDirectory")
    c.ok("USR1" in lr and "/var/log/%s/" % logs in lr and "copytruncate" not in
         re.sub(r"#.*", "", lr), "logrotate snippet: the unit's LogsDirectory, SIGUSR1")
    sa = shutil.which("systemd-analyze")
    if sa is None:
        c.skip("systemd-analyze verify", "systemd-analyze is not installed")
        return
    tmp = tempfile.mkdtemp(prefix="regauth-unit-")
    try:
        with open(unit, encoding="utf-8") as f:
            text = f.read()
        copy = os.path.join(tmp, "regauthd.service")
        with open(copy, "w", encoding="utf-8") as f:
            f.write(re.sub(r"^ExecStart=\S+", "ExecStart=" +
                           os.path.abspath(binary), text, flags=re.M))
        r = subprocess.run([sa, "verify", "--man=no", copy],
                           capture_output=True, text=True, timeout=60)
        noise = [l for l in (r.stdout + r.stderr).splitlines()
                 if "regauthd" in l]
        c.ok(r.returncode == 0 and not noise, "systemd-analyze verify",
             "\n".join(noise) or "exit %d" % r.returncode)
        r = subprocess.run([sa, "security", "--offline=yes", copy],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"exposure level for regauthd.service: ([0-9.]+)", r.stdout)
        if m is None:
            c.skip("systemd-analyze security", "--offline not supported here")
        else:
            c.ok(float(m.group(1)) <= 2.0,
                 "systemd-analyze security exposure <= 2.0", m.group(1))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    args = [a for a in sys.argv[1:] if a != "-v"]
    binary = args[0] if args else os.path.join(ROOT, "bin", "regauthd")
    c = Checks("-v" in sys.argv[1:])
    docs = load_yaml_files(c)
    objs = k8s_objects(c, docs)
    check_kubernetes(c, objs, binary)
    check_config_sh(c, binary)
    check_registry(c, docs)
    check_systemd(c, binary)
    print("deploy: %d passed, %d failed, %d skipped"
          % (c.passed, len(c.failed), len(c.skipped)))
    return 1 if c.failed or c.passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
