#!/usr/bin/env python3
"""docs/github-actions-deploy.yml is valid YAML with the shape GitHub Actions
reads, every run: script passes `bash -n`, and the exit codes its deploy step
branches on (3 rolled back, 4 busy) are those of controller/exit_codes.h.

Usage: workflow_test.py SOURCE_DIR. Prints "SKIPPED: ..." (ctest: skipped)
when PyYAML is missing."""
import os
import re
import subprocess
import sys

try:
    import yaml
except ImportError:
    print("SKIPPED: python3-yaml is not installed")
    sys.exit(0)

src = sys.argv[1]
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)


def exit_code(name):
    with open(os.path.join(src, "controller/exit_codes.h")) as f:
        m = re.search(r"\b%s\s*=\s*(\d+)" % name, f.read())
    return int(m.group(1))


with open(os.path.join(src, "docs/github-actions-deploy.yml")) as f:
    doc = yaml.safe_load(f)

# PyYAML reads YAML 1.1, where the key `on` is the boolean True.
check(True in doc or "on" in doc, "no `on:` trigger")
steps = doc["jobs"]["deploy"]["steps"]
check(isinstance(steps, list) and steps, "jobs.deploy.steps is not a list")
deploy = [s for s in steps if s.get("name") == "bgctl deploy"]
check(len(deploy) == 1, "no step named 'bgctl deploy'")
check(doc["concurrency"]["cancel-in-progress"] is False,
      "a running deploy could be cancelled halfway")

for s in steps:
    if "run" not in s:
        continue
    r = subprocess.run(["bash", "-n"], input=s["run"], text=True,
                       capture_output=True)
    check(r.returncode == 0, "bash -n on step %r: %s" % (s["name"], r.stderr))

script = deploy[0]["run"] if deploy else ""
check("deploy --version \"$VERSION\"" in script, "does not run bgctl deploy")
check(doc["jobs"]["deploy"]["env"]["VERSION"] == "${{ github.sha }}",
      "VERSION is not the commit")
check("--lock-wait" in script, "no --lock-wait")
# The case arms: "N)" followed by their body up to ";;".
arms = {int(m.group(1)): m.group(2)
        for m in re.finditer(r"^\s*(\d+)\)\s*\n?(.*?);;", script, re.M | re.S)}
rolled_back = exit_code("kExitRolledBack")
busy = exit_code("kExitBusy")
ok = exit_code("kExitOk")
check(rolled_back in arms and "exit 1" in arms[rolled_back],
      "exit %d (rolled back) does not fail the job" % rolled_back)
check(rolled_back in arms and "deploy.log" in arms[rolled_back],
      "exit %d (rolled back) does not show the evidence" % rolled_back)
check(busy in arms and "exit" not in arms[busy],
      "exit %d (busy) is not retried" % busy)
check(ok in arms and "exit 0" in arms[ok], "exit %d does not pass" % ok)

if failures:
    for f in failures:
        print("FAIL:", f)
    sys.exit(1)
print("docs/github-actions-deploy.yml: YAML, bash -n, exit codes %d/%d/%d ok"
      % (ok, rolled_back, busy))
