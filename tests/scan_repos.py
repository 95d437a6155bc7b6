"""A small real git repository for the scan tests: a few seeded defects the checkers find, and decoys that
look like them but are fine."""

from __future__ import annotations

AWS_KEY = "AKIAZ7Q4N2XW5T3RPLMB"
DB_PASSWORD = "Wq8-hunter2-Zx91"
PLANTED_SECRETS = (AWS_KEY, DB_PASSWORD)

SHELL_PY = """import subprocess


def run(command):
    return subprocess.call(command, shell=True)
"""

MODELS_PY = """import json


def name():
    return "model"
"""

HELPERS_PY = """import re


def title(text):
    return text.title()
"""

SETTINGS_PY = f"""AWS_ACCESS_KEY_ID = "{AWS_KEY}"
DB_PASSWORD = "{DB_PASSWORD}"
"""

# Decoys: the same subjects, done right.
CLEAN_PY = '''import hashlib
import os


def database_password():
    """Read the password from the environment, never from code."""
    password = os.environ["DB_PASSWORD"]
    return password


def digest(data):
    return hashlib.sha256(data).hexdigest()


def shell_words(command):
    """Split a command line without running it (no shell here)."""
    return command.split()
'''

FILES: dict[str, str | bytes] = {
    "README.md": "# shop\n\nA small shop backend.\n",
    "LICENSE": "MIT License\n\nCopyright (c) the shop authors\n",
    "shop/__init__.py": "",
    "shop/shell.py": SHELL_PY,
    "shop/models.py": MODELS_PY,
    "shop/helpers.py": HELPERS_PY,
    "shop/settings.py": SETTINGS_PY,
    "shop/clean.py": CLEAN_PY,
}
DEFECT_FILES = {"shop/shell.py", "shop/models.py", "shop/helpers.py", "shop/settings.py"}
DECOY_FILES = {"shop/clean.py", "README.md", "LICENSE", "shop/__init__.py"}


def shifted(text: str) -> str:
    """``text`` after a refactor that moves every line down: a docstring and a helper on top."""
    head = '"""Refactored: a module docstring and a helper above everything."""\n\n\n'
    return head + "def _helper():\n    return 1\n\n\n" + text
