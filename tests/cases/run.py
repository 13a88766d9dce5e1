#!/usr/bin/python3
"""Data-driven policy cases: feed every case of tests/cases/policy/*.json to
`regauthd policy eval --account 111122223333` as JSON lines and compare.

Usage: python3 tests/cases/run.py [bin/regauthd] [-v]

A case is {"id", "expect": Allow|Deny|ImplicitDeny, "request", "policies"}
(the format of docs' policy-cases/sample.json). A case may also say
"rejected": [INDEX, ...]: those policy documents must be reported invalid in
the output's "errors" (and every other document must load). Exits 1 on any
mismatch, and when no case ran.
"""
import glob
import json
import os
import subprocess
import sys

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


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("-")]
    verbose = "-v" in argv[1:]
    binary = args[0] if args else "bin/regauthd"
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
