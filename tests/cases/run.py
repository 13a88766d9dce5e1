#!/usr/bin/python3
"""Data-driven policy cases: feed every case of tests/cases/policy/*.json to
`regauthd policy eval --account 111122223333` as JSON lines and compare;
then every lint case of tests/cases/lint/*.json through `regauthd policy check`.

Usage: python3 tests/cases/run.py [bin/regauthd] [-v]

A case is {"id", "expect": Allow|Deny|ImplicitDeny, "request", "policies"}
(the format of docs' policy-cases/sample.json). A case may also say
"rejected": [INDEX, ...]: those policy documents must be reported invalid in
the output's "errors" (and every other document must load). Exits 1 on any
mismatch, and when no case ran.

A lint case is {"id", "name", "lines": [text lines of one file], "kind"
(optional: identity|resource|boundary, passed as --kind), "expect": [{"code",
"severity", "line"}, ...]}: the document is written to a temporary file and
checked with `regauthd policy check FILE`; the findings must be exactly the
expected ones (as a multiset), and the exit status 1 exactly when one is an
error. A directory case has "files": {"REL/PATH.json": [lines], ...} instead
and is checked with `policy check -c DIR`; its expectations also name "file".
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

ACCOUNT = "111122223333"
HERE = os.path.dirname(os.path.abspath(__file__))


def load_cases():
    cases = []
    files = sorted(glob.glob(os.path.join(HERE, "policy", "*.json")))
    for path in files:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        for case in doc.get("cases", []):
            cases.append((os.path.basename(path), case))
    return files, cases


FINDING = re.compile(r"^(.*):(\d+):(\d+): (error|warning|suggestion): ([A-Z0-9_]+): (.*)$")


def run_lint_case(binary, case, tmp):
    """Returns a list of problems (empty when the case passes)."""
    cdir = tempfile.mkdtemp(dir=tmp)
    if "files" in case:
        for rel, lines in case["files"].items():
            path = os.path.join(cdir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write("\n".join(lines) + "\n")
        argv = [binary, "policy", "check", "-c", cdir]
    else:
        path = os.path.join(cdir, case.get("file", "policy.json"))
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(case["lines"]) + "\n")
        argv = [binary, "policy", "check", path]
        if "kind" in case:
            argv += ["--kind", case["kind"]]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return ["cannot run %s: %s" % (binary, e)]
    got, problems = [], []
    for line in proc.stdout.splitlines():
        m = FINDING.match(line)
        if not m:
            problems.append("unparsable output line: %r" % line)
            continue
        rel = os.path.relpath(m.group(1), cdir)
        key = (m.group(5), m.group(4), int(m.group(2)))
        got.append(((rel,) + key) if "files" in case else key)
    want = []
    for e in case["expect"]:
        key = (e["code"], e["severity"], e["line"])
        want.append(((e["file"],) + key) if "files" in case else key)
    if sorted(got) != sorted(want):
        problems.append("expected %s, got %s\n%s" % (sorted(want), sorted(got),
                                                     proc.stdout.rstrip()))
    status = 1 if any(e["severity"] == "error" for e in case["expect"]) else 0
    if proc.returncode != status:
        problems.append("exit status %d, expected %d (%s)"
                        % (proc.returncode, status, proc.stderr.strip()))
    return problems


def run_lint_cases(binary, verbose):
    files = sorted(glob.glob(os.path.join(HERE, "lint", "*.json")))
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="regauth-lint-") as tmp:
        for path in files:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
            for case in doc.get("cases", []):
                problems = run_lint_case(binary, case, tmp)
                if problems:
                    failed += 1
                    print("FAIL %s %s (%s): %s" % (os.path.basename(path),
                                                   case.get("id"), case.get("name", ""),
                                                   "; ".join(problems)))
                else:
                    passed += 1
                    if verbose:
                        print("ok   %s %s" % (os.path.basename(path), case.get("id")))
    print("lint cases: %d passed, %d failed, %d total (%d files)"
          % (passed, failed, passed + failed, len(files)))
    return 1 if failed or passed == 0 else 0


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("-")]
    verbose = "-v" in argv[1:]
    binary = args[0] if args else "bin/regauthd"
    rc = run_policy_cases(binary, verbose)
    return run_lint_cases(binary, verbose) or rc


def run_policy_cases(binary, verbose):
    files, cases = load_cases()
    if not cases:
        print("policy cases: no case found under %s/policy" % HERE)
        return 1
    lines = []
    for _, case in cases:
        lines.append(json.dumps({"policies": case.get("policies", []),
                                 "request": case["request"]}))
    try:
        proc = subprocess.run([binary, "policy", "eval", "--account", ACCOUNT],
                              input="\n".join(lines) + "\n",
                              capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as e:
        print("policy cases: cannot run %s: %s" % (binary, e))
        return 1
    if proc.returncode != 0:
        print("policy cases: %s exited %d: %s" % (binary, proc.returncode,
                                                 proc.stderr.strip()))
        return 1
    outs = proc.stdout.splitlines()
    if len(outs) != len(cases):
        print("policy cases: %d input lines but %d output lines"
              % (len(cases), len(outs)))
        return 1
    passed = failed = 0
    for (fname, case), out in zip(cases, outs):
        problems = []
        try:
            got = json.loads(out)
        except ValueError:
            got = {"error": "unparsable output: " + out}
        decision = got.get("decision")
        if decision != case["expect"]:
            problems.append("expected %s, got %s" % (case["expect"],
                                                     decision or got))
        if "rejected" in case:
            want = sorted(case["rejected"])
            have = sorted(e.get("policy") for e in got.get("errors", []))
            if want != have:
                problems.append("expected rejected documents %s, got %s (%s)"
                                % (want, have, got.get("errors")))
        if problems:
            failed += 1
            print("FAIL %s %s (%s): %s" % (fname, case.get("id"),
                                           case.get("name", ""),
                                           "; ".join(problems)))
        else:
            passed += 1
            if verbose:
                print("ok   %s %s" % (fname, case.get("id")))
    print("policy cases: %d passed, %d failed, %d total (%d files)"
          % (passed, failed, len(cases), len(files)))
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
