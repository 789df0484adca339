"""What the learning tests share: git run as an engineer would, and a knowledge repository."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ..conftest import REPO

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def git(repo: Path, *args: str) -> str:
    """Run git with an identity of its own (the machine may have none); return stdout."""
    return subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=T", *args],
                          capture_output=True, text=True, check=True).stdout


@pytest.fixture
def repo(tmp_path, knowledge_dir) -> Path:
    """A git repository on main holding the test knowledge base and the shipped rules."""
    root = tmp_path / "kb-repo"
    shutil.copytree(knowledge_dir, root / "knowledge")
    shutil.copytree(REPO / "rules", root / "rules")
    git(root.parent, "init", "-q", "-b", "main", str(root))
    git(root, "add", ".")
    git(root, "commit", "-qm", "base")
    return root
