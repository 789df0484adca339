"""Publishing a batch of proposed changes as a branch and a pull request, never on the base branch.

Two backends share one contract: `LocalGit` (offline, the default) commits on a new branch of a
local repository without touching its checkout; `GitHub` opens a real pull request with PyGithub.
Engineers review and merge; `state()` tells the learning loop what became of each proposal.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from typing import Iterator

import requests
from github import Auth, Github, GithubException, UnknownObjectException
from github.ContentFile import ContentFile
from github.GitRef import GitRef
from github.Repository import Repository

AUTHOR_NAME, AUTHOR_EMAIL = "Vigil", "vigil@localhost"
# Where LocalGit remembers each published commit, so a merged branch that was then deleted
# still reads as merged rather than closed. Outside refs/heads: no branch listing shows it.
PUBLISHED_REFS = "refs/vigil/published"


@dataclass(frozen=True)
class Batch:
    branch: str                    # e.g. "vigil/learn-2026-11-25-1"; must not be the base branch
    title: str                     # pull request title
    description: str               # pull request body (Markdown)
    files: dict[str, str | None]   # repo-relative path -> new full text, or None to delete the file
    message: str                   # commit message


@dataclass(frozen=True)
class Published:
    backend: str                   # "git" or "github"
    branch: str
    url: str | None                # the pull request URL (github), None for local git
    number: int | None


class PublishError(Exception):
    """Publishing failed; the message says what failed and what to do."""


def check_path(path: str) -> None:
    """Refuse a path that is not a plain repo-relative file path (absolute, `..`, `.git`, odd characters)."""
    parts = path.split("/")
    if (not path or path.startswith("/") or PureWindowsPath(path).drive or "\\" in path
            or any(ord(c) < 32 for c in path)
            or any(p in ("", ".", "..") or p.lower() == ".git" for p in parts)):
        raise PublishError(f"refusing path {path!r}: files must be relative to the repository root, "
                           "with '/' separators and no '.', '..', '.git' or empty parts")


def check_batch(batch: Batch, base: str) -> None:
    """Refuse a batch that targets the base branch, changes nothing, or reaches outside the repository."""
    if not batch.branch.strip():
        raise PublishError("the batch has no branch name: name one, such as vigil/learn-2026-11-25-1")
    if batch.branch == base:
        raise PublishError(f"refusing to publish on the base branch {base!r}: proposals go on their own "
                           "branch for review; give the batch another branch name")
    if not batch.files:
        raise PublishError(f"batch {batch.branch!r} has no files: there is nothing to propose")
    for path in batch.files:
        check_path(path)
    clash = set(batch.files) & {folder for path in batch.files for folder in folders(path)}
    if clash:
        raise PublishError(f"batch {batch.branch!r} uses {sorted(clash)[0]!r} both as a file and as a folder")


def folders(path: str) -> list[str]:
    """The folders that contain a path, outermost first: "a/b/c.md" -> ["a", "a/b"]."""
    parts = path.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


class LocalGit:
    """A branch in a local repository, made with git plumbing: no checkout, the working tree is not touched."""

    def __init__(self, repo: Path, base: str | None = None) -> None:
        self.repo = Path(repo)
        if not self.repo.is_dir():
            raise PublishError(f"{self.repo} is not a directory: pass the top folder of a git repository")
        self._git("rev-parse", "--git-dir", hint="pass the top folder of a git repository, or run git init there")
        if base is None:  # the branch checked out now is the one proposals are reviewed against
            base = self._git("symbolic-ref", "--quiet", "--short", "HEAD",
                             hint="HEAD is detached: pass base= the branch that proposals target")
        self.base = base

    def publish(self, batch: Batch) -> Published:
        """Commit the batch on a new branch from the base's tip; the branch appears only if all went well."""
        check_batch(batch, self.base)
        self._git("check-ref-format", "--branch", batch.branch, hint=f"{batch.branch!r} is not a valid branch name")
        ref = f"refs/heads/{batch.branch}"
        if self._tip(ref):
            raise PublishError(f"branch {batch.branch!r} already exists in {self.repo}: choose another "
                               f"name, or delete it (git branch -D {batch.branch}) if it is stale")
        base_tip = self._tip(f"refs/heads/{self.base}")
        if not base_tip:
            raise PublishError(f"base branch {self.base!r} does not exist or has no commit in {self.repo}")
        kinds = self._kinds(base_tip, [*batch.files, *(f for path in batch.files for f in folders(path))])
        for path, text in batch.files.items():
            if text is None and kinds.get(path) != "blob":
                raise PublishError(f"cannot delete {path!r}: it is not a file on {self.base!r}")
            if text is not None and kinds.get(path) == "tree":
                raise PublishError(f"cannot write {path!r}: it is a folder on {self.base!r}")
            # git would silently replace a file that stands where a folder is needed: refuse instead.
            blocking = [f for f in folders(path) if kinds.get(f) == "blob"]
            if text is not None and blocking:
                raise PublishError(f"cannot write {path!r}: {blocking[0]!r} is a file on {self.base!r}")
        # A private index file: the user's index and working tree never see this commit being built.
        with tempfile.TemporaryDirectory(prefix="vigil-index-") as tmp:
            written = {path: text for path, text in batch.files.items() if text is not None}
            blobs = dict(zip(written, self._blobs(list(written.values()), tmp)))
            # Mode 0 removes an entry; the all-zero id has the repository's hash length.
            entries = [f"0 {'0' * len(base_tip)}\t{path}\0" if text is None else f"100644 {blobs[path]}\t{path}\0"
                       for path, text in batch.files.items()]
            index = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
            self._git("read-tree", base_tip, env=index)
            self._git("update-index", "-z", "--index-info", input="".join(entries).encode("utf-8"), env=index)
            tree = self._git("write-tree", env=index)
        if tree == self._git("rev-parse", f"{base_tip}^{{tree}}"):
            raise PublishError(f"batch {batch.branch!r} changes nothing: every file already has this "
                               f"content on {self.base!r}")
        identity = {"GIT_AUTHOR_NAME": AUTHOR_NAME, "GIT_AUTHOR_EMAIL": AUTHOR_EMAIL,
                    "GIT_COMMITTER_NAME": AUTHOR_NAME, "GIT_COMMITTER_EMAIL": AUTHOR_EMAIL}
        commit = self._git("commit-tree", tree, "-p", base_tip, input=batch.message.encode("utf-8"), env=identity)
        # One transaction: "create" fails if the branch appeared meanwhile, and both refs land or neither.
        self._git("update-ref", "--stdin",
                  input=f"create {ref} {commit}\nupdate {PUBLISHED_REFS}/{batch.branch} {commit}\n".encode("utf-8"))
        return Published(backend="git", branch=batch.branch, url=None, number=None)

    def state(self, published: Published) -> str:
        """'merged' if the branch's tip is in the base, 'closed' if the branch is gone unmerged, else 'open'."""
        if published.backend != "git":
            raise PublishError(f"{published.backend!r} publication given to the local git backend")
        branch_tip = self._tip(f"refs/heads/{published.branch}")
        tip = branch_tip or self._tip(f"{PUBLISHED_REFS}/{published.branch}")
        base_tip = self._tip(f"refs/heads/{self.base}")
        if not base_tip:
            raise PublishError(f"base branch {self.base!r} does not exist in {self.repo}")
        if tip:
            ancestor = self._run("merge-base", "--is-ancestor", tip, base_tip)
            if ancestor.returncode not in (0, 1):  # 1 is "no"; anything else is an error
                raise self._error(("merge-base", "--is-ancestor", tip, base_tip), ancestor, None)
            if ancestor.returncode == 0:
                return "merged"
        return "open" if branch_tip else "closed"

    def edited(self, published: Published, path: str, blob: str | None) -> bool:
        """Whether the reviewer changed the proposed file before or after merging: the base's
        file differs from the one published (read from the commit Vigil made, not `blob`)."""
        proposed = self._run("rev-parse", "--verify", "--quiet", f"{PUBLISHED_REFS}/{published.branch}:{path}")
        merged = self._run("rev-parse", "--verify", "--quiet", f"refs/heads/{self.base}:{path}")
        return proposed.returncode != 0 or merged.returncode != 0 or proposed.stdout != merged.stdout

    def _tip(self, ref: str) -> str | None:
        """The commit a ref points to, or None if there is no such ref."""
        found = self._run("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        return found.stdout.decode().strip() if found.returncode == 0 else None

    def _blobs(self, texts: list[str], folder: str) -> list[str]:
        """Store each text as a blob with one git process, however many there are; their ids in order."""
        paths = [os.path.join(folder, f"blob-{i}") for i in range(len(texts))]
        for path, text in zip(paths, texts):
            Path(path).write_bytes(text.encode("utf-8"))
        # --no-filters: stored as given, as `hash-object --stdin` does (no attributes, no line endings).
        listed = "".join(f"{path}\n" for path in paths).encode()
        return self._git("hash-object", "-w", "--no-filters", "--stdin-paths", input=listed).split() if paths else []

    def _kinds(self, commit: str, paths: list[str]) -> dict[str, str]:
        """Each path's object type in the commit ("blob" or "tree"); absent paths are left out."""
        listing = self._git("ls-tree", "-z", commit, "--", *paths)
        kinds = {}
        for line in filter(None, listing.split("\0")):
            info, path = line.split("\t", 1)
            kinds[path] = info.split()[1]
        return kinds

    def _run(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess[bytes]:
        """Run git in the repository and return what it did, whatever the exit status."""
        environment = {k: v for k, v in os.environ.items()
                       if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")}  # they would redirect git
        # Stop git from searching parent folders: a plain folder inside another repository is not a repository.
        environment["GIT_CEILING_DIRECTORIES"] = str(self.repo.resolve().parent)
        environment.update(env or {})
        try:
            return subprocess.run(["git", "-C", str(self.repo), *args], input=input,
                                  capture_output=True, env=environment, check=False)
        except FileNotFoundError:
            raise PublishError("the git command is not installed: install git, or publish with GitHub") from None

    def _git(self, *args: str, input: bytes | None = None, env: dict[str, str] | None = None,
             hint: str | None = None) -> str:
        """Run git and return its output stripped; a failure raises PublishError with git's own words."""
        done = self._run(*args, input=input, env=env)
        if done.returncode != 0:
            raise self._error(args, done, hint)
        return done.stdout.decode().strip()

    def _error(self, args: tuple[str, ...], done: subprocess.CompletedProcess[bytes], hint: str | None
               ) -> PublishError:
        """A PublishError naming the git command, its stderr and what to do."""
        said = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        return PublishError(f"git {args[0]} failed in {self.repo}: {said}" + (f" ({hint})" if hint else ""))


# What to do about GitHub's usual refusals.
GITHUB_HINTS = {
    401: "the token is invalid or expired: create a new one",
    403: "the token lacks permission: it needs contents and pull requests write access on the repository",
    404: "check the repository name and that the token can see it",
    409: "the branch changed meanwhile: publish again with a new branch name",
    422: "GitHub found the request invalid",
}


class GitHub:
    """A branch and a pull request on GitHub (or GitHub Enterprise) through PyGithub."""

    def __init__(self, token: str, repo: str, base: str = "main", api_url: str = "https://api.github.com",
                 *, throttle: bool = True) -> None:
        self.repo_name, self.base, self.api_url = repo, base, api_url.rstrip("/")
        self._token = token  # kept only to scrub it from error messages
        # GitHub asks integrators to space out writes; PyGithub does (0.25 s per request, 1 s per write).
        # throttle=False lifts that, for tests against a local server.
        self._github = (Github(auth=Auth.Token(token), base_url=self.api_url) if throttle else
                        Github(auth=Auth.Token(token), base_url=self.api_url,
                               seconds_between_requests=None, seconds_between_writes=None))
        self._repository: Repository | None = None  # read once: refresh_states asks about many pulls

    def __repr__(self) -> str:
        return f"GitHub(repo={self.repo_name!r}, base={self.base!r}, api_url={self.api_url!r})"

    def publish(self, batch: Batch) -> Published:
        """Create the branch from the base's head, write each file on it, then open the pull request."""
        check_batch(batch, self.base)
        repo = self._repo()
        with self._doing(f"read the base branch {self.base!r}"):
            base_sha = repo.get_git_ref(f"heads/{self.base}").object.sha
        # Read every file before creating anything, so a bad batch leaves no branch behind.
        current = {path: self._existing(repo, path, base_sha) for path in batch.files}
        changes = {}
        for path, text in batch.files.items():
            old = current[path]
            if text is None and old is None:
                raise PublishError(f"cannot delete {path!r}: it is not a file on {self.base!r}")
            if text is not None and old is not None and old.encoding == "base64" \
                    and old.decoded_content == text.encode("utf-8"):
                continue  # an identical rewrite would only add an empty commit
            changes[path] = text
        if not changes:
            raise PublishError(f"batch {batch.branch!r} changes nothing: every file already has this "
                               f"content on {self.base!r}")
        with self._doing(f"create the branch {batch.branch!r}",
                         {422: "choose another branch name, or delete the stale branch on GitHub"}):
            ref = repo.create_git_ref(f"refs/heads/{batch.branch}", base_sha)
        try:
            for path, text in changes.items():
                old = current[path]
                with self._doing(f"write {path!r}"):
                    if old is None:
                        if text is not None:  # deleting a file that is not there: nothing to do
                            repo.create_file(path, batch.message, text, branch=batch.branch)
                    elif text is None:
                        repo.delete_file(path, batch.message, old.sha, branch=batch.branch)
                    else:
                        repo.update_file(path, batch.message, text, old.sha, branch=batch.branch)
            with self._doing("open the pull request"):
                pull = repo.create_pull(base=self.base, head=batch.branch, title=batch.title,
                                        body=batch.description)
        except PublishError as exc:
            raise PublishError(f"{exc}; {self._remove(ref, batch.branch)}") from exc
        return Published(backend="github", branch=batch.branch, url=pull.html_url, number=pull.number)

    def state(self, published: Published) -> str:
        """The pull request's fate: "merged", "closed" (without merging) or "open"."""
        if published.backend != "github" or published.number is None:
            raise PublishError(f"{published.backend!r} publication without a pull request given to the GitHub backend")
        repo = self._repo()
        with self._doing(f"read pull request #{published.number}"):
            pull = repo.get_pull(published.number)
            if pull.merged:
                return "merged"
            return "closed" if pull.state == "closed" else "open"

    def edited(self, published: Published, path: str, blob: str | None) -> bool:
        """Whether the base's file differs from the text Vigil proposed (git blob ids compared)."""
        if blob is None:
            return False  # a deletion: nothing to edit
        with self._doing(f"read {path!r} on {self.base!r}"):
            try:
                found = self._repo().get_contents(path, ref=self.base)
            except UnknownObjectException:
                return True  # the reviewer removed it
        return isinstance(found, list) or found.sha != blob

    def _repo(self) -> Repository:
        """The repository, asked of GitHub the first time only."""
        if self._repository is None:
            with self._doing("open the repository"):
                self._repository = self._github.get_repo(self.repo_name)
        return self._repository

    def _existing(self, repo: Repository, path: str, sha: str) -> ContentFile | None:
        """The file at path in commit sha, or None if there is none."""
        with self._doing(f"read {path!r}"):
            try:
                found = repo.get_contents(path, ref=sha)
            except UnknownObjectException:
                return None
        if isinstance(found, list):
            raise PublishError(f"cannot write {path!r}: it is a folder on {self.base!r}")
        return found

    def _remove(self, ref: GitRef, branch: str) -> str:
        """Delete a half-written branch so that publishing again starts clean; say what happened."""
        try:
            ref.delete()
            return f"the half-written branch {branch!r} was deleted"
        except (GithubException, requests.RequestException):
            return f"delete the half-written branch {branch!r} on GitHub before publishing again"

    @contextmanager
    def _doing(self, what: str, hints: dict[int, str] | None = None) -> Iterator[None]:
        """Turn PyGithub's and the network's errors into a PublishError saying what failed (never the token)."""
        try:
            yield
        except GithubException as exc:
            data = exc.data if isinstance(exc.data, dict) else {}
            said = str(data.get("message") or exc.message or "no message")
            details = [e.get("message") or f"{e.get('resource')} {e.get('field')} {e.get('code')}"
                       for e in data.get("errors") or [] if isinstance(e, dict)]
            if details:
                said += f" ({'; '.join(details)})"
            hint = {**GITHUB_HINTS, **(hints or {})}.get(exc.status, "see GitHub's message")
            raise PublishError(self._scrub(f"GitHub refused to {what} in {self.repo_name}: "
                                           f"{exc.status} {said} ({hint})")) from None
        except requests.RequestException as exc:
            raise PublishError(self._scrub(f"could not reach GitHub at {self.api_url} to {what}: {exc}")) from None

    def _scrub(self, text: str) -> str:
        """Remove the token from a message, whatever echoed it."""
        return text.replace(self._token, "***") if self._token else text
