"""Knowledge files as people write them: loose YAML read kindly, broken files reported with
the line and the fix wherever an admin looks (knowledge check, the index, the dashboard)."""

from __future__ import annotations

import os
import re

import pytest
from click.testing import CliRunner

from plugin.cli import main
from plugin.knowledge.entries import KnowledgeError, check_knowledge, parse_entry
from plugin.knowledge.retrieval import KnowledgeIndex

from .fakehttp import FakeServer
from .test_dashboard import bearer, make_app

COLON_TITLE = "---\ntitle: Error 429: too many requests\ntags: [api]\nsources: [x]\n---\nWait and retry.\n"


@pytest.mark.parametrize("front, tags, products", [
    ("tags: [api, 429]\nproducts: [acme]", ("api", "429"), ("acme",)),  # YAML reads 429 as a number
    ("tags: api, rate limit\nproducts: acme, globex", ("api", "rate limit"), ("acme", "globex")),
    ("tags: 429\nproducts: acme", ("429",), ("acme",)),
    ("tags: [yes, 1.5, 2024-05-01]", ("true", "1.5", "2024-05-01"), ()),
    ("tags:\n  - api\n  -\n  - 429", ("api", "429"), ()),  # an empty item is dropped
    ("tags:", (), ()),
])
def test_tags_and_products_are_lists_of_strings_however_written(front, tags, products):
    entry = parse_entry("e", f"---\ntitle: Rate limits\n{front}\nsources: https://example.org/a,b\n---\nBody.\n")
    assert (entry.tags, entry.products) == (tags, products)
    assert entry.sources == ("https://example.org/a,b",)  # a source is one string, commas and all


def test_a_numeric_title_a_byte_order_mark_and_windows_line_ends_are_read():
    entry = parse_entry("e", "\ufeff---\r\ntitle: 404\r\ntags: [web]\r\n---\r\nNot found.\r\n")
    assert (entry.title, entry.tags, entry.body) == ("404", ("web",), "Not found.")


@pytest.mark.parametrize("text, line, fix", [
    (COLON_TITLE, 2, 'quote the title: it contains a colon'),
    ("---\ntitle: ok\ntags:\n\t- api\n---\nx", 4, "indent with spaces: YAML does not allow tabs"),
    ('---\ntitle: ok\nsources: ["http://x\n---\nx', 3, "close the quote or bracket opened here, or quote the sources"),
    ("---\ntitle: @support answers\n---\nx", 2, "quote the title: it starts with a character YAML reserves"),
    ("---\ntitle: *not* bold\n---\nx", 2, "quote the title: it starts with a character YAML reserves"),
    ("title: no fences\n", 1, "start the file with a line `---`"),
    ("---\ntitle: never closed\n", 1, "end the front matter with a line `---`"),
    ("---\ntags: [a]\n---\nx", None, "add a line `title: ...`"),
    ("---\ntitle: x\ntags: {a: 1}\n---\nx", None, "write `tags: [first, second]` or `tags: first, second`"),
])
def test_a_file_that_cannot_be_read_names_the_line_and_the_fix(text, line, fix):
    with pytest.raises(KnowledgeError) as raised:
        parse_entry("guides/quota", text)
    finding = raised.value.finding
    assert finding.entry == "guides/quota" and finding.line == line and finding.fix.startswith(fix)
    assert str(raised.value).startswith("guides/quota: ") and f"Fix: {finding.fix}" in str(raised.value)


def test_knowledge_check_reports_the_line_and_the_fix(knowledge_dir, tmp_path, monkeypatch):
    (knowledge_dir / "api").mkdir()
    (knowledge_dir / "api/quota.md").write_text(COLON_TITLE)
    (knowledge_dir / "api/limits.md").write_text(
        "---\ntitle: API rate limits\ntags: [api, 429]\nsources: [x]\n---\nAt most 100 calls a minute.\n")
    count, findings = check_knowledge(knowledge_dir)
    assert count == 4 and [str(f) for f in findings] == [
        "api/quota: front matter is not valid YAML (mapping values are not allowed here) at line 2. "
        'Fix: quote the title: it contains a colon (title: "...: ...")']
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIGIL_KNOWLEDGE_DIR", str(knowledge_dir))
    result = CliRunner().invoke(main, ["knowledge", "check"])
    assert result.exit_code == 1
    assert "api/quota: front matter is not valid YAML (mapping values are not allowed here) at line 2" in result.output
    assert "quote the title: it contains a colon" in result.output


def test_an_entry_with_numeric_tags_is_indexed_and_found(knowledge_dir, tmp_path):
    (knowledge_dir / "api").mkdir()
    (knowledge_dir / "api/limits.md").write_text(
        "---\ntitle: API rate limits\ntags: [api, 429]\nsources: [x]\n---\n"
        "At most 100 API calls a minute per token; a 429 answer says wait for Retry-After.\n")
    index = KnowledgeIndex(knowledge_dir, tmp_path / "index")
    try:
        assert index.refresh() == 4 and index.errors == []
        assert index.search("API calls answered 429")[0].entry_id == "api/limits"
    finally:
        index.close()


def test_the_dashboard_lists_the_files_left_out_with_the_fix(settings, knowledge_dir):
    (knowledge_dir / "quota.md").write_text(COLON_TITLE)
    with FakeServer() as helpdesk:
        app = make_app(settings, helpdesk)
        try:
            text = app.test_client().get("/dashboard", headers=bearer()).text
        finally:
            app.extensions["vigil"].close()
    assert "Knowledge files left out" in text
    assert "quota: front matter is not valid YAML (mapping values are not allowed here) at line 2" in text
    assert "quote the title: it contains a colon" in text


def test_a_web_process_without_an_index_lists_the_files_left_out_and_keeps_up(settings, knowledge_dir, monkeypatch):
    """`vigil serve`'s web processes decide nothing and hold no index: the dashboard scans the
    files itself, and reads again only the files that changed since its last view."""
    from plugin.knowledge import unreadable
    from plugin.web.app import create_app
    from plugin.work.dispatch import Wake

    read = []
    load = unreadable.load_entry
    monkeypatch.setattr(unreadable, "load_entry", lambda root, path: read.append(path.stem) or load(root, path))
    quota = knowledge_dir / "quota.md"
    quota.write_text(COLON_TITLE)
    app = create_app(settings.replace(admin_token="admin-t0ken"), dispatcher=Wake())
    assert not hasattr(app.extensions["vigil"], "index")

    def left_out() -> str:
        page = app.test_client().get("/dashboard", headers=bearer("admin-t0ken"))
        assert page.status_code == 200, page.text
        found = re.search(r'<section id="unreadable">(.*?)</section>', page.text, re.S)
        return found.group(1) if found else ""

    def touch(path, text):  # a new modification time even where the clock is coarse
        path.write_text(text)
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

    try:
        shown = left_out()
        assert "quota: front matter is not valid YAML (mapping values are not allowed here) at line 2" in shown
        assert "quote the title: it contains a colon" in shown
        assert len(read) == 4 and "quota" in read  # every file once...
        read.clear()
        assert left_out() == shown and read == []  # ...and nothing again while no file changes
        touch(quota, COLON_TITLE.replace("Error 429: too many", '"Error 429: too many').replace("requests\n", 'requests"\n', 1))
        assert left_out() == "" and read == ["quota"]  # fixed: gone from the page
        read.clear()
        touch(knowledge_dir / "tabs.md", "---\ntitle: ok\ntags:\n\t- api\n---\nx")
        shown = left_out()
        assert "tabs: front matter is not valid YAML" in shown and "at line 4" in shown
        assert "indent with spaces: YAML does not allow tabs" in shown and "quota" not in shown
        assert read == ["tabs"]
        (knowledge_dir / "tabs.md").unlink()
        assert left_out() == ""
    finally:
        app.extensions["vigil"].close()
