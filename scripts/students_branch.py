#!/usr/bin/env python3
"""The students' copy of the course: this repository without ``teacher/``.

nbgitpuller copies a whole branch into every student's home, and ``teacher/``
holds the practice's reference solutions and the nbgrader source. For a graded
class, publish a branch without it and put that branch in the links::

    python scripts/students_branch.py                # refs/heads/students <- HEAD minus teacher/
    git push origin students
    # nbgitpuller link: ...&branch=students&...

Each run adds one commit to ``students`` whose tree is the given commit's
tree without ``teacher/`` (made with git's plumbing: no checkout, the working
tree is untouched), so students who pulled before get the new lessons as an
ordinary fast-forward. The tests in ``tests/`` stay (they need ``teacher/``
to run; students do not run them). ``tests/hub`` pulls such a branch and
checks that no student can open ``teacher/``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: What a student never gets.
LEFT_OUT = ("teacher",)


def _git(*args: str, repo: Path = ROOT, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=repo,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        raise SystemExit(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def students_commit(ref: str = "HEAD", parent: str | None = None, repo: Path = ROOT) -> str:
    """A new commit: ``ref``'s tree without :data:`LEFT_OUT`, on top of ``parent`` (if any)."""
    source = _git("rev-parse", "--verify", f"{ref}^{{commit}}", repo=repo).strip()
    entries = _git("ls-tree", source, repo=repo).splitlines()
    kept = [line for line in entries if line.split("\t", 1)[1] not in LEFT_OUT]
    tree = _git("mktree", repo=repo, stdin="\n".join(kept) + "\n").strip()
    message = f"The students' copy of {source[:12]}: the course without {', '.join(LEFT_OUT)}/"
    args = ["commit-tree", tree, "-m", message]
    if parent is not None:
        args += ["-p", parent]
    return _git(*args, repo=repo).strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", default="HEAD", help="the commit to publish (default: HEAD)")
    parser.add_argument("--branch", default="students", help="the branch to update")
    args = parser.parse_args(argv)
    branch = f"refs/heads/{args.branch}"
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", branch],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    parent = found.stdout.strip() or None
    commit = students_commit(args.ref, parent)
    _git("update-ref", branch, commit, *([parent] if parent else []))
    print(f"{args.branch} is now {commit[:12]}: {args.ref} without {', '.join(LEFT_OUT)}/")
    print(f"publish it with: git push origin {args.branch}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
