#!/usr/bin/python3
"""The manuals' SYNOPSIS and the programs' usage texts say the same thing.

Usage: python3 tests/cases/synopsis.py [BINDIR] [-v]

1. `regauthd --help`, `regauthd help`, `docker-credential-regauth --help`
   (and `help`, `-h`) exit 0 and print on stdout exactly the SYNOPSIS lines
   of docs/regauthd.8 and docs/docker-credential-regauth.1: font escapes
   removed, a leading "usage: " dropped, leading and repeated blanks
   ignored; the line breaks must be the same.
2. Every command the programs dispatch, run with an unknown option, exits 2
   (regauthd) and prints a usage whose entries (continuation lines joined)
   are all entries of the SYNOPSIS, its own command's among them: a
   sub-command's own usage text cannot drift from the manual either, and
   every command is in both.
3. Every manual in docs/ (*.1, *.5, *.8) has the section of its file name
   in .TH, and formats without a warning (`groff -man -ww -z`, and
   `man --warnings -l` at 80 columns); skipped, and said so, without groff.
Exits 1 on any difference, printing it.
"""
import glob
import shutil
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Every command of tokenserver/main.c's and helper/main.c's dispatch, with
# an argument vector that makes it print its usage.
REGAUTHD_COMMANDS = [
    "init", "serve", "user add", "group add",
    "sa create", "sa key add", "sa key list", "sa key enable",
    "sa key disable", "sa key delete", "repo-policy set",
    "role add", "role list", "oidc add", "oidc list",
    "policy simulate", "policy check", "policy eval",
    "keys list", "keys rotate", "keys prune",
]
HELPER_COMMANDS = ["login", "logout", "configure", "kubelet"]


def unroff(line):
    """A man page line as a terminal shows it, blanks normalized."""
    line = re.sub(r"\\f(\[[^]]*\]|\(..|.)", "", line)
    line = line.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "")
    line = line.replace("\\(em", "--").replace("\\ ", " ")
    return " ".join(line.split())


def synopsis(page):
    with open(page, encoding="utf-8") as f:
        lines = f.read().split("\n")
    out, inside = [], False
    for line in lines:
        if line.startswith(".SH"):
            if inside:
                break
            inside = line.split(None, 1)[1:] == ["SYNOPSIS"]
            continue
        if not inside or line.startswith((".nf", ".fi", ".PP", ".br")):
            continue
        if line.startswith("."):
            raise SystemExit("%s: unexpected request in SYNOPSIS: %r"
                             % (page, line))
        if line.strip():
            out.append(unroff(line))
    if not out:
        raise SystemExit("%s: no SYNOPSIS" % page)
    return out


def usage_lines(text):
    """Usage text as lines: "usage: " dropped, blanks normalized."""
    out = []
    for line in text.split("\n"):
        if line.startswith("usage: "):
            line = line[len("usage: "):]
        if line.strip():
            out.append(" ".join(line.split()))
    return out


def entries(lines, prog, strict):
    """Join continuation lines: one entry per command."""
    out = []
    start = re.compile(r"^(usage: )?\s*%s( |$)" % re.escape(prog))
    for line in lines:
        if start.match(line):
            out.append(" ".join(start.sub(prog + " ", line, count=1).split()))
        elif line[:1].isspace() and out:
            out[-1] += " " + " ".join(line.split())
        elif strict and not out:
            out.append(" ".join(line.split()))
        elif strict:
            out[-1] += " " + " ".join(line.split())
    return out


def run(argv):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=20,
                           stdin=subprocess.DEVNULL,
                           env=dict(os.environ, HOME="/nonexistent",
                                    REGAUTH_CONFIG="/nonexistent/config.json",
                                    REGAUTH_CACHE_DIR="/nonexistent"))
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "", str(e)
    return p.returncode, p.stdout, p.stderr


def manpage_problems(page):
    """Problems of one manual page; None when groff is missing."""
    problems = []
    with open(page, encoding="utf-8") as f:
        th = f.readline().split()
    section = page.rsplit(".", 1)[1]
    if len(th) < 3 or th[0] != ".TH" or th[2] != section:
        problems.append("first line is not .TH NAME %s" % section)
    if shutil.which("groff") is None:
        return None
    p = subprocess.run(["groff", "-man", "-ww", "-z", page],
                       capture_output=True, text=True, timeout=60)
    if p.returncode != 0 or p.stderr.strip():
        problems.append("groff -ww: %s" % p.stderr.strip()[:500])
    if shutil.which("man") is not None:
        p = subprocess.run(["man", "--warnings", "-l", page],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, MANWIDTH="80",
                                    LC_ALL="C.UTF-8", MANPAGER="cat",
                                    PAGER="cat"))
        if p.returncode != 0 or p.stderr.strip():
            problems.append("man --warnings: %s" % p.stderr.strip()[:500])
    return problems


def diff(a, b):
    import difflib
    return "\n".join(difflib.unified_diff(a, b, "SYNOPSIS", "usage", lineterm=""))


def main():
    args = [a for a in sys.argv[1:] if a != "-v"]
    verbose = "-v" in sys.argv[1:]
    bindir = args[0] if args else os.path.join(ROOT, "bin")
    failures, passed = [], 0
    progs = [
        ("regauthd", os.path.join(ROOT, "docs", "regauthd.8"),
         [["--help"], ["help"], ["-h"]], REGAUTHD_COMMANDS, 2),
        ("docker-credential-regauth",
         os.path.join(ROOT, "docs", "docker-credential-regauth.1"),
         [["--help"], ["help"], ["-h"]], HELPER_COMMANDS, 2),
    ]
    for prog, page, helps, commands, usage_rc in progs:
        binary = os.path.join(bindir, prog)
        syn = synopsis(page)
        syn_entries = entries(syn, prog, strict=True)
        for h in helps:
            rc, out, err = run([binary] + h)
            name = "%s %s" % (prog, " ".join(h))
            got = usage_lines(out)
            if rc != 0:
                failures.append("%s: exit %s, want 0 (stderr: %s)"
                                % (name, rc, err.strip()[:200]))
            elif got != syn:
                failures.append("%s differs from the SYNOPSIS of %s:\n%s"
                                % (name, os.path.relpath(page, ROOT),
                                   diff(syn, got)))
            else:
                passed += 1
                if verbose:
                    print("ok  %s = SYNOPSIS (%d lines)" % (name, len(syn)))
        for cmd in commands:
            argv = [binary] + cmd.split() + ["--no-such-option"]
            rc, out, err = run(argv)
            name = "%s %s --no-such-option" % (prog, cmd)
            got = entries(err.split("\n") + out.split("\n"), prog,
                          strict=False)
            mine = [g for g in got if g.startswith("%s %s " % (prog, cmd))
                    or g == "%s %s" % (prog, cmd)
                    or re.match(r"%s %s(\|| )" % (re.escape(prog),
                                re.escape(cmd.rsplit(" ", 1)[0])), g)
                    and cmd.rsplit(" ", 1)[-1] in g.split()[len(cmd.split())].split("|")]
            problems = []
            if rc != usage_rc:
                problems.append("exit %s, want %d" % (rc, usage_rc))
            if not got:
                problems.append("no usage printed")
            for g in got:
                if g not in syn_entries:
                    problems.append("usage entry not in the SYNOPSIS: %r" % g)
            if got and not mine:
                problems.append("its usage does not show the command itself")
            if not any(s.startswith("%s %s " % (prog, cmd)) or
                       s == "%s %s" % (prog, cmd) or
                       cmd.split()[-1] in s.split()[len(cmd.split())].split("|")
                       and s.startswith("%s %s" % (prog, cmd.rsplit(" ", 1)[0]))
                       for s in syn_entries):
                problems.append("not in the SYNOPSIS")
            if problems:
                failures.append("%s: %s" % (name, "; ".join(problems)))
            else:
                passed += 1
                if verbose:
                    print("ok  %s: usage matches the SYNOPSIS" % name)
    for page in sorted(glob.glob(os.path.join(ROOT, "docs", "*.[158]"))):
        problems = manpage_problems(page)
        if problems is None:
            print("skipped: %s (groff is not installed)"
                  % os.path.relpath(page, ROOT))
        elif problems:
            failures.append("%s: %s" % (os.path.relpath(page, ROOT),
                                        "; ".join(problems)))
        else:
            passed += 1
            if verbose:
                print("ok  %s formats without warnings"
                      % os.path.relpath(page, ROOT))
    for f in failures:
        print("FAIL %s" % f)
    print("synopsis: %d passed, %d failed" % (passed, len(failures)))
    return 1 if failures or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
