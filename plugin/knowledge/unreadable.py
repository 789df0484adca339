"""The knowledge files that cannot be read, for a process that holds no index.

`vigil serve`'s web processes decide nothing, so they have no index to ask which files it left
out, yet the dashboard they serve must list them. Reading the whole knowledge base at every
page view would cost as much as indexing it; a file is read again only when its modification
time or size changes, and it is read as the index reads it (entries.load_entry: libyaml first,
the pure-Python loader only for the files libyaml refuses), with the message, the line and the
fix that `vigil knowledge check` would print.
"""

from __future__ import annotations

import threading
from pathlib import Path

from plugin.knowledge.entries import Finding, KnowledgeError, entry_paths, load_entry


class UnreadableFiles:
    """The knowledge folder's unreadable files, kept in step with the files at each call."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._lock = threading.Lock()  # one scan at a time: page views come on several threads
        self._seen: dict[Path, tuple[tuple[int, int], Finding | None]] = {}  # path -> (stamp, finding)

    def findings(self) -> list[Finding]:
        """Each file that cannot be read, with its line and fix, in path order."""
        with self._lock:
            seen = {}
            for path in entry_paths(self.root):
                try:
                    stat = path.stat()
                except FileNotFoundError:  # removed between the listing and now
                    continue
                stamp = (stat.st_mtime_ns, stat.st_size)
                known = self._seen.get(path)
                seen[path] = known if known and known[0] == stamp else (stamp, self._check(path))
            self._seen = seen
            return [finding for _, finding in seen.values() if finding]

    def _check(self, path: Path) -> Finding | None:
        try:
            load_entry(self.root, path)
            return None
        except KnowledgeError as exc:
            return exc.finding
