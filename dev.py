#!/usr/bin/env python3
"""The two commands of the Quickstart, for a machine with nothing but Python 3.11+ and pip.

    python3 dev.py demo     # set up, then run the demo SaaS on the Polar emulator
    python3 dev.py test     # set up, then run the whole test suite (extra args go to pytest)

Both create ``.venv`` on first use and reinstall only when pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".django-polar-installed"


def ensure_venv() -> None:
    """Create the virtualenv and install the project with its test and demo extras."""
    if sys.version_info < (3, 11):  # noqa: UP036  (dev.py may be run by an older python3)
        sys.exit("django-polar needs Python 3.11 or newer.")
    if not PYTHON.exists():
        print(f"Creating a virtualenv in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    print("Installing django-polar with its test and demo dependencies ...", flush=True)
    run([PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([PYTHON, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[test,example]"])
    STAMP.write_text(wanted)


def run(cmd: list, **kwargs) -> None:
    completed = subprocess.run([str(c) for c in cmd], cwd=ROOT, check=False, **kwargs)
    if completed.returncode:
        sys.exit(completed.returncode)


def main(argv: list[str]) -> None:
    if not argv or argv[0] not in {"demo", "test"}:
        sys.exit(__doc__)
    ensure_venv()
    command, rest = argv[0], argv[1:]
    if command == "test":
        run([PYTHON, "-m", "pytest", *rest])
    else:
        run([PYTHON, "manage.py", "demo", *rest])


if __name__ == "__main__":
    main(sys.argv[1:])
