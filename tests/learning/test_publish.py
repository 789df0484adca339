"""Publishing proposals: real git in temporary repositories, and the real PyGithub over HTTP to a loopback server."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest

from plugin.learning.publish import Batch, GitHub, LocalGit, Published, PublishError
from tests.fakehttp import FakeServer, Reply

# ---------------------------------------------------------------- local git

BRANCH = "vigil/learn-2026-11-25-1"


def git(repo: Path, *args: str) -> str:
    """Run git as the engineer would, with an identity of their own; return stdout stripped."""
    done = subprocess.run(["git", "-C", str(repo), "-c", "user.name=Engineer", "-c", "user.email=eng@example.org",
                           *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository on main with two knowledge entries and a rule file."""
    root = tmp_path / "kb"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "knowledge" / "billing").mkdir(parents=True)
    (root / "knowledge" / "billing" / "refunds.md").write_text("---\ntitle: Refunds\n---\nFive days.\n")
    (root / "knowledge" / "old-entry.md").write_text("---\ntitle: Old\n---\nRetired.\n")
    (root / "rules").mkdir()
    (root / "rules" / "answer.yml").write_text("rules: []\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "Start the knowledge base")
    return root


def batch(branch: str = BRANCH) -> Batch:
    """A one-file batch on the given branch."""
    return Batch(branch=branch, title="Learned from 3 tickets", description="## Why\nThree tickets asked.",
                 files={"knowledge/new.md": "new\n"}, message="Learn: refunds take seven days")


CHANGES = {
    "knowledge/billing/refunds.md": "---\ntitle: Refunds\n---\nSeven business days.\n",  # update
    "knowledge/shipping/customs.md": "---\ntitle: Customs\n---\nDuties are paid on delivery.\n",  # new, new folder
    "knowledge/old-entry.md": None,  # delete
}


def test_publish_commits_exactly_the_batch_on_a_new_branch_from_the_base(repo: Path) -> None:
    base_tip = git(repo, "rev-parse", "main")

    published = LocalGit(repo).publish(Batch(BRANCH, "t", "d", CHANGES, "Learn: refunds take seven days"))

    assert published == Published(backend="git", branch=BRANCH, url=None, number=None)
    assert git(repo, "rev-parse", f"{BRANCH}^") == base_tip  # one commit, on the base's tip
    assert git(repo, "diff", "--name-status", "main", BRANCH).splitlines() == [
        "M\tknowledge/billing/refunds.md", "D\tknowledge/old-entry.md", "A\tknowledge/shipping/customs.md"]
    for path in ("knowledge/billing/refunds.md", "knowledge/shipping/customs.md"):
        assert git(repo, "show", f"{BRANCH}:{path}") + "\n" == CHANGES[path]
    assert git(repo, "ls-tree", "-r", "--name-only", BRANCH).splitlines() == [
        "knowledge/billing/refunds.md", "knowledge/shipping/customs.md", "rules/answer.yml"]
    assert git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>|%B", BRANCH) == \
        "Vigil <vigil@localhost>|Vigil <vigil@localhost>|Learn: refunds take seven days"
    assert git(repo, "rev-parse", "main") == base_tip  # the base branch never moves


def test_publish_leaves_the_checkout_the_index_and_a_dirty_working_tree_alone(repo: Path) -> None:
    refunds = repo / "knowledge" / "billing" / "refunds.md"
    refunds.write_text("an engineer's unsaved edit\n")  # dirty, and the batch changes the same file
    (repo / "notes.txt").write_text("untracked\n")
    (repo / "rules" / "answer.yml").write_text("rules: [staged]\n")
    git(repo, "add", "rules/answer.yml")
    before = (git(repo, "symbolic-ref", "HEAD"), git(repo, "rev-parse", "HEAD"),
              git(repo, "status", "--porcelain"), git(repo, "diff"), git(repo, "diff", "--cached"))

    LocalGit(repo).publish(Batch(BRANCH, "t", "d", CHANGES, "Learn"))

    after = (git(repo, "symbolic-ref", "HEAD"), git(repo, "rev-parse", "HEAD"),
             git(repo, "status", "--porcelain"), git(repo, "diff"), git(repo, "diff", "--cached"))
    assert after == before
    assert refunds.read_text() == "an engineer's unsaved edit\n"
    assert (repo / "knowledge" / "old-entry.md").exists()  # deleted on the branch only
    assert not (repo / "knowledge" / "shipping").exists()
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_base_defaults_to_the_current_branch_and_can_be_named(repo: Path) -> None:
    main_tip = git(repo, "rev-parse", "main")
    git(repo, "checkout", "-q", "-b", "review")
    (repo / "extra.md").write_text("x\n")
    git(repo, "add", "extra.md")
    git(repo, "commit", "-q", "-m", "extra")

    assert LocalGit(repo).base == "review"
    LocalGit(repo, base="main").publish(batch("vigil/from-main"))
    assert git(repo, "rev-parse", "vigil/from-main^") == main_tip
    assert git(repo, "symbolic-ref", "--short", "HEAD") == "review"


@pytest.mark.parametrize("branch, expected", [
    (BRANCH, "already exists"),
    ("main", "refusing to publish on the base branch 'main'"),
    ("bad..name", "not a valid branch name"),
    ("", "no branch name"),
])
def test_refuses_a_branch_that_exists_is_the_base_or_is_invalid(repo: Path, branch: str, expected: str) -> None:
    git(repo, "branch", BRANCH)
    tips = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")

    with pytest.raises(PublishError, match=expected):
        LocalGit(repo).publish(batch(branch))

    assert git(repo, "for-each-ref", "--format=%(refname) %(objectname)") == tips  # nothing moved


@pytest.mark.parametrize("path", ["../outside.md", "/etc/passwd", "knowledge/../../outside.md", "./x.md",
                                  "knowledge//x.md", ".git/hooks/pre-commit", "knowledge/.GIT/config",
                                  "C:/x.md", "knowledge\\x.md", "knowledge/x\n.md", ""])
def test_refuses_paths_that_escape_the_repository(repo: Path, path: str) -> None:
    with pytest.raises(PublishError, match="refusing path"):
        LocalGit(repo).publish(Batch(BRANCH, "t", "d", {"knowledge/ok.md": "ok\n", path: "x"}, "m"))
    assert git(repo, "branch", "--list", BRANCH) == ""


@pytest.mark.parametrize("files, expected", [
    ({"knowledge/missing.md": None}, "cannot delete 'knowledge/missing.md': it is not a file on 'main'"),
    ({"knowledge/billing": "x"}, "cannot write 'knowledge/billing': it is a folder"),
    ({"knowledge/old-entry.md/x.md": "x"}, "'knowledge/old-entry.md' is a file"),
    ({"knowledge/a": "x", "knowledge/a/b.md": "y"}, "both as a file and as a folder"),
    ({"rules/answer.yml": "rules: []\n"}, "changes nothing"),
    ({}, "has no files"),
])
def test_refuses_batches_that_cannot_apply_cleanly(repo: Path, files: dict[str, str | None], expected: str) -> None:
    with pytest.raises(PublishError, match=expected):
        LocalGit(repo).publish(Batch(BRANCH, "t", "d", files, "m"))
    assert git(repo, "branch", "--list", BRANCH) == ""


def test_not_a_repository_is_refused_with_what_to_do(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(PublishError, match="not a git repository.*top folder of a git repository"):
        LocalGit(plain).publish(batch())
    with pytest.raises(PublishError, match="not a directory"):
        LocalGit(tmp_path / "missing")


def test_a_folder_inside_a_repository_is_not_taken_for_it(repo: Path) -> None:
    # Paths are relative to the repository root: git must not quietly use the enclosing repository.
    with pytest.raises(PublishError, match="not a git repository"):
        LocalGit(repo / "knowledge")


def test_a_detached_head_needs_a_named_base(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    with pytest.raises(PublishError, match="HEAD is detached: pass base="):
        LocalGit(repo)
    assert LocalGit(repo, base="main").publish(batch()).branch == BRANCH


def test_state_open_then_merged_even_after_the_branch_is_deleted(repo: Path) -> None:
    publisher = LocalGit(repo)
    published = publisher.publish(Batch(BRANCH, "t", "d", CHANGES, "Learn"))
    assert publisher.state(published) == "open"

    (repo / "rules" / "guards.yml").write_text("rules: []\n")  # main moves on meanwhile
    git(repo, "add", "rules/guards.yml")
    git(repo, "commit", "-q", "-m", "Another change")
    assert publisher.state(published) == "open"

    git(repo, "merge", "-q", "--no-edit", BRANCH)
    assert publisher.state(published) == "merged"
    git(repo, "branch", "-d", BRANCH)  # the usual tidy-up after a merge
    assert publisher.state(published) == "merged"


def test_state_closed_when_the_branch_is_deleted_unmerged(repo: Path) -> None:
    publisher = LocalGit(repo)
    published = publisher.publish(batch())
    git(repo, "branch", "-D", BRANCH)
    assert publisher.state(published) == "closed"
    assert publisher.state(Published("git", "vigil/never-published", None, None)) == "closed"
    with pytest.raises(PublishError, match="'github' publication"):
        publisher.state(Published("github", BRANCH, "https://github.com/o/r/pull/1", 1))


def test_the_branch_name_can_be_reused_after_deletion(repo: Path) -> None:
    publisher = LocalGit(repo)
    publisher.publish(batch())
    git(repo, "branch", "-D", BRANCH)
    second = publisher.publish(batch())
    assert publisher.state(second) == "open"


# ---------------------------------------------------------------- GitHub

TOKEN = "ghp_testtoken0123456789abcdefABCDEF0123"
OWNER_REPO = "acme/helpdesk-kb"
REPO_PATH = f"/repos/{OWNER_REPO}"
BASE_SHA = "7638417db6d59f3c431d3e1f261cc637155684cd"
REFUNDS_SHA = "3d21ec53a331a6f037a91c368710b99387d012c1"
OLD_SHA = "95b966ae1c166bd92f8ae7d1c313e738c731dfc3"
REFUNDS_OLD = "---\ntitle: Refunds\n---\nFive days.\n"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


def api(server: FakeServer, path: str) -> str:
    """An API URL as GitHub writes it in its answers (absolute, under the API root)."""
    return f"{server.url}{path}"


def repo_json(server: FakeServer) -> dict[str, Any]:
    return {"id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": "helpdesk-kb",
            "full_name": OWNER_REPO, "private": True, "owner": {"login": "acme", "id": 1, "type": "Organization"},
            "html_url": f"https://github.com/{OWNER_REPO}", "url": api(server, REPO_PATH),
            "default_branch": "main", "permissions": {"admin": False, "push": True, "pull": True}}


def ref_json(server: FakeServer, name: str, sha: str) -> dict[str, Any]:
    return {"ref": f"refs/heads/{name}", "node_id": "MDM6UmVmcmVmcy9oZWFkcy9mZWF0dXJlQQ==",
            "url": api(server, f"{REPO_PATH}/git/refs/heads/{name}"),
            "object": {"type": "commit", "sha": sha, "url": api(server, f"{REPO_PATH}/git/commits/{sha}")}}


def file_json(server: FakeServer, path: str, sha: str, text: str | None = None) -> dict[str, Any]:
    """A file as the contents API describes it; with text, as GET returns it (base64 in 60-column lines)."""
    data: dict[str, Any] = {
        "type": "file", "name": path.rsplit("/", 1)[-1], "path": path, "sha": sha, "size": len(text or ""),
        "url": api(server, f"{REPO_PATH}/contents/{path}?ref=main"),
        "git_url": api(server, f"{REPO_PATH}/git/blobs/{sha}"),
        "html_url": f"https://github.com/{OWNER_REPO}/blob/main/{path}",
        "download_url": f"https://raw.githubusercontent.com/{OWNER_REPO}/main/{path}"}
    if text is not None:
        encoded = base64.b64encode(text.encode()).decode()
        data.update(encoding="base64", content="\n".join(encoded[i:i + 60] for i in range(0, len(encoded), 60)) + "\n")
    return data


def commit_json(server: FakeServer, sha: str, message: str) -> dict[str, Any]:
    return {"sha": sha, "node_id": "MDY6Q29tbWl0N2Q", "url": api(server, f"{REPO_PATH}/git/commits/{sha}"),
            "html_url": f"https://github.com/{OWNER_REPO}/commit/{sha}", "message": message,
            "author": {"name": "vigil-bot", "email": "vigil@acme.example", "date": "2026-11-25T23:00:00Z"},
            "committer": {"name": "vigil-bot", "email": "vigil@acme.example", "date": "2026-11-25T23:00:00Z"},
            "tree": {"sha": "691272480426f78a0138979dd3ce63b77f706feb",
                     "url": api(server, f"{REPO_PATH}/git/trees/691272480426f78a0138979dd3ce63b77f706feb")},
            "parents": [{"sha": BASE_SHA, "url": api(server, f"{REPO_PATH}/git/commits/{BASE_SHA}")}]}


def pull_json(server: FakeServer, number: int, state: str = "open", merged: bool = False) -> dict[str, Any]:
    return {"url": api(server, f"{REPO_PATH}/pulls/{number}"), "id": 1000 + number, "number": number,
            "html_url": f"https://github.com/{OWNER_REPO}/pull/{number}", "state": state, "merged": merged,
            "title": "Learned from 3 tickets", "body": "## Why\nThree tickets asked.", "draft": False,
            "merged_at": "2026-11-26T09:00:00Z" if merged else None,
            "closed_at": "2026-11-26T09:00:00Z" if state == "closed" else None,
            "head": {"ref": BRANCH, "sha": "aa218f56b14c9653891f9e74264a383fa43fefbd", "label": f"acme:{BRANCH}"},
            "base": {"ref": "main", "sha": BASE_SHA, "label": "acme:main"}}


NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest", "status": "404"}


def script_publish(server: FakeServer) -> None:
    """GitHub's answers to a full publication of CHANGES."""
    server.script("GET", REPO_PATH, Reply(200, repo_json(server)))
    server.script("GET", f"{REPO_PATH}/git/ref/heads/main", Reply(200, ref_json(server, "main", BASE_SHA)))
    server.script("GET", f"{REPO_PATH}/contents/knowledge/billing/refunds.md",
                  Reply(200, file_json(server, "knowledge/billing/refunds.md", REFUNDS_SHA, REFUNDS_OLD)))
    server.script("GET", f"{REPO_PATH}/contents/knowledge/shipping/customs.md", Reply(404, NOT_FOUND))
    server.script("GET", f"{REPO_PATH}/contents/knowledge/old-entry.md",
                  Reply(200, file_json(server, "knowledge/old-entry.md", OLD_SHA, "---\ntitle: Old\n---\nRetired.\n")))
    server.script("POST", f"{REPO_PATH}/git/refs", Reply(201, ref_json(server, BRANCH, BASE_SHA)))
    server.script("PUT", f"{REPO_PATH}/contents/knowledge/billing/refunds.md", Reply(200, {
        "content": file_json(server, "knowledge/billing/refunds.md", "b1a1"),
        "commit": commit_json(server, "c1", "Learn")}))
    server.script("PUT", f"{REPO_PATH}/contents/knowledge/shipping/customs.md", Reply(201, {
        "content": file_json(server, "knowledge/shipping/customs.md", "b2a2"),
        "commit": commit_json(server, "c2", "Learn")}))
    server.script("DELETE", f"{REPO_PATH}/contents/knowledge/old-entry.md", Reply(200, {
        "content": None, "commit": commit_json(server, "c3", "Learn")}))
    server.script("POST", f"{REPO_PATH}/pulls", Reply(201, pull_json(server, 42)))


def github(server: FakeServer) -> GitHub:
    return GitHub(TOKEN, OWNER_REPO, base="main", api_url=server.url, throttle=False)


GITHUB_BATCH = Batch(BRANCH, "Learned from 3 tickets", "## Why\nThree tickets asked.", CHANGES,
                     "Learn: refunds take seven days")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_github_publish_sends_exactly_the_branch_the_files_and_the_pull_request(server: FakeServer) -> None:
    script_publish(server)

    published = github(server).publish(GITHUB_BATCH)

    assert published == Published(backend="github", branch=BRANCH,
                                  url=f"https://github.com/{OWNER_REPO}/pull/42", number=42)
    contents = f"{REPO_PATH}/contents/knowledge"
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", REPO_PATH),
        ("GET", f"{REPO_PATH}/git/ref/heads/main"),
        ("GET", f"{contents}/billing/refunds.md?ref={BASE_SHA}"),  # read at the commit the branch starts from
        ("GET", f"{contents}/shipping/customs.md?ref={BASE_SHA}"),
        ("GET", f"{contents}/old-entry.md?ref={BASE_SHA}"),
        ("POST", f"{REPO_PATH}/git/refs"),
        ("PUT", f"{contents}/billing/refunds.md"),
        ("PUT", f"{contents}/shipping/customs.md"),
        ("DELETE", f"{contents}/old-entry.md"),
        ("POST", f"{REPO_PATH}/pulls"),
    ]
    bodies = [r.json() for r in server.requests if r.method != "GET"]
    assert bodies == [
        {"ref": f"refs/heads/{BRANCH}", "sha": BASE_SHA},
        {"message": "Learn: refunds take seven days", "content": b64(CHANGES["knowledge/billing/refunds.md"]),
         "sha": REFUNDS_SHA, "branch": BRANCH},
        {"message": "Learn: refunds take seven days", "content": b64(CHANGES["knowledge/shipping/customs.md"]),
         "branch": BRANCH},
        {"message": "Learn: refunds take seven days", "sha": OLD_SHA, "branch": BRANCH},
        {"base": "main", "head": BRANCH, "title": "Learned from 3 tickets", "body": "## Why\nThree tickets asked."},
    ]
    assert all(TOKEN in r.headers["Authorization"] for r in server.requests)


def test_github_skips_a_file_whose_content_is_unchanged(server: FakeServer) -> None:
    script_publish(server)
    unchanged = Batch(BRANCH, "t", "d", {"knowledge/billing/refunds.md": REFUNDS_OLD,
                                          "knowledge/shipping/customs.md": "new\n"}, "m")

    github(server).publish(unchanged)

    assert [r.path for r in server.requests if r.method == "PUT"] == [
        f"{REPO_PATH}/contents/knowledge/shipping/customs.md"]


def test_github_existing_branch_is_a_clear_error_without_the_token(server: FakeServer) -> None:
    script_publish(server)
    server.script("POST", f"{REPO_PATH}/git/refs", Reply(422, {
        "message": "Reference already exists", "status": "422",
        "documentation_url": "https://docs.github.com/rest/git/refs#create-a-reference"}))

    with pytest.raises(PublishError) as caught:
        github(server).publish(GITHUB_BATCH)

    message = str(caught.value)
    assert "422" in message and "Reference already exists" in message
    assert f"create the branch '{BRANCH}'" in message and "choose another branch name" in message
    assert TOKEN not in message and TOKEN not in repr(caught.value)
    assert TOKEN not in repr(github(server))
    assert not [r for r in server.requests if r.method in ("PUT", "DELETE") or r.path.endswith("/pulls")]


def test_github_failure_after_the_branch_exists_removes_the_half_written_branch(server: FakeServer) -> None:
    script_publish(server)
    server.script("PUT", f"{REPO_PATH}/contents/knowledge/shipping/customs.md", Reply(409, {
        "message": "knowledge/shipping/customs.md does not match 0000", "status": "409"}))
    server.script("DELETE", f"{REPO_PATH}/git/refs/heads/{BRANCH}", Reply(204))

    with pytest.raises(PublishError, match="409 .*does not match.*half-written branch .* was deleted"):
        github(server).publish(GITHUB_BATCH)

    assert server.received("DELETE", f"{REPO_PATH}/git/refs/heads/{BRANCH}")
    assert not server.received("POST", f"{REPO_PATH}/pulls")


def test_github_validation_errors_carry_githubs_details(server: FakeServer) -> None:
    script_publish(server)
    server.script("POST", f"{REPO_PATH}/pulls", Reply(422, {"message": "Validation Failed", "errors": [
        {"resource": "PullRequest", "code": "custom", "message": f"No commits between main and {BRANCH}"}]}))
    server.script("DELETE", f"{REPO_PATH}/git/refs/heads/{BRANCH}",
                  Reply(403, {"message": "Resource not accessible by integration"}))

    with pytest.raises(PublishError) as caught:
        GitHub(TOKEN, OWNER_REPO, api_url=server.url, throttle=False).publish(GITHUB_BATCH)

    assert "open the pull request" in str(caught.value) and "No commits between main" in str(caught.value)
    assert f"delete the half-written branch '{BRANCH}' on GitHub" in str(caught.value)


@pytest.mark.parametrize("status, body, expected", [
    (401, {"message": "Bad credentials"}, "401 Bad credentials.*token is invalid"),
    (404, NOT_FOUND, "404 Not Found.*check the repository name"),
])
def test_github_refusals_say_what_to_do(server: FakeServer, status: int, body: dict[str, Any], expected: str) -> None:
    server.script("GET", REPO_PATH, Reply(status, body))
    with pytest.raises(PublishError, match=f"open the repository in {OWNER_REPO}: {expected}"):
        github(server).publish(GITHUB_BATCH)


def test_github_refuses_bad_batches_before_any_request(server: FakeServer) -> None:
    for bad, expected in [(Batch("main", "t", "d", {"k.md": "x"}, "m"), "base branch"),
                          (Batch(BRANCH, "t", "d", {"../k.md": "x"}, "m"), "refusing path")]:
        with pytest.raises(PublishError, match=expected):
            github(server).publish(bad)
    assert server.requests == []


def test_github_deleting_a_missing_file_is_refused_before_the_branch_is_made(server: FakeServer) -> None:
    script_publish(server)
    with pytest.raises(PublishError, match="cannot delete 'knowledge/shipping/customs.md'"):
        github(server).publish(Batch(BRANCH, "t", "d", {"knowledge/shipping/customs.md": None}, "m"))
    assert not server.received("POST", f"{REPO_PATH}/git/refs")


def test_github_state_follows_the_pull_request(server: FakeServer) -> None:
    server.script("GET", REPO_PATH, Reply(200, repo_json(server)))
    server.script("GET", f"{REPO_PATH}/pulls/42", Reply(200, pull_json(server, 42)),
                  Reply(200, pull_json(server, 42, state="closed", merged=True)),
                  Reply(200, pull_json(server, 42, state="closed", merged=False)))
    publisher, published = github(server), Published("github", BRANCH, f"https://github.com/{OWNER_REPO}/pull/42", 42)

    assert [publisher.state(published) for _ in range(3)] == ["open", "merged", "closed"]
    assert len(server.received("GET", f"{REPO_PATH}/pulls/42")) == 3
    assert len(server.received("GET", REPO_PATH)) == 1  # the repository is read once, not once per pull
    with pytest.raises(PublishError, match="without a pull request"):
        publisher.state(Published("git", BRANCH, None, None))
