"""`/runbooks/…` pages: complete HTML5, every knowledge string shown as text, never as markup."""

from __future__ import annotations

from html.parser import HTMLParser

from hypothesis import given, settings

from bot.render.html import runbook_index, runbook_page
from tests.test_render_fixtures import INJECTION, explanation_137, explanation_with_text, slack_hostile_text

PAGE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "nav", "a", "h1", "h2", "p",
    "dl", "dt", "dd", "ul", "ol", "li", "pre", "code", "strong", "footer",
}  # fmt: skip


class PageReader(HTMLParser):
    """What a browser would build: the tags, the links and the visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []
        self.pre: list[str] = []
        self._in_pre = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_pre = self._in_pre or tag == "pre"
        self.links.extend(value or "" for name, value in attrs if tag == "a" and name == "href")

    def handle_endtag(self, tag: str) -> None:
        self._in_pre = self._in_pre and tag != "pre"

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_pre:
            self.pre.append(data)


def read(page: str) -> PageReader:
    reader = PageReader()
    reader.feed(page)
    reader.close()
    return reader


def test_runbook_page_is_a_complete_html5_document() -> None:
    page = runbook_page(explanation_137().with_placeholders({"pod": "web-1"}))
    assert page.startswith('<!DOCTYPE html>\n<html lang="en">')
    assert page.rstrip().endswith("</html>")
    assert '<meta charset="utf-8">' in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    reader = read(page)
    assert "Exit code 137: SIGKILL · exitcode-bot runbook" in reader.text
    assert reader.pre == [
        "kubectl describe pod web-1 -n <namespace>",
        "kubectl logs web-1 -n <namespace> --previous",
    ]
    visible = "".join(reader.text)
    for expected in (
        "In Kubernetes",
        "Likely causes",
        "Runbook",
        "Runtime hints",
        "137 = 128 + 9",
        "SIGKILL (9)",
    ):
        assert expected in visible
    assert reader.links == ["./", "https://wiki.example.com/exit/137"]


def test_every_field_is_escaped_and_shown_as_text() -> None:
    page = runbook_page(explanation_with_text(INJECTION, runbook_url="javascript:alert(1)"))
    for raw in ("<!channel>", "<@U123>", "<https://evil|x>"):
        assert raw not in page
    reader = read(page)
    assert set(reader.tags) <= PAGE_TAGS
    assert reader.links == ["./"]  # the javascript: URL is not linked
    assert "".join(reader.text).count(INJECTION) >= 10
    assert reader.pre == [INJECTION, INJECTION]


def test_reason_page_names_the_kind_of_status() -> None:
    page = runbook_page(explanation_137(subject="reason", reason="Evicted", reason_kind="pod"))
    assert "<dt>Kubernetes reason</dt><dd><code>Evicted</code> (a pod status reason)</dd>" in page


def test_attribute_values_cannot_be_broken_out_of() -> None:
    page = runbook_page(explanation_137(runbook_url='https://x.example/"><script>alert(1)</script>'))
    reader = read(page)
    assert "script" not in reader.tags
    assert reader.links[-1] == 'https://x.example/"><script>alert(1)</script>'


def test_index_links_every_runbook_by_its_encoded_key() -> None:
    explanations = [
        explanation_137(),
        explanation_137(runbook_key="OOMKilled", title="OOMKilled: over the memory limit"),
        explanation_137(runbook_key="a/b <x>", title=INJECTION),
        explanation_137(runbook_key=""),
    ]
    reader = read(runbook_index(explanations))
    assert reader.links == ["137", "OOMKilled", "a%2Fb%20%3Cx%3E"]
    assert INJECTION in "".join(reader.text)
    assert set(reader.tags) <= PAGE_TAGS
    assert read(runbook_index(explanations, base="/runbooks/")).links[0] == "/runbooks/137"


def test_empty_index_says_so() -> None:
    assert "No runbooks are available." in "".join(read(runbook_index([])).text)


@settings(max_examples=60, deadline=None)
@given(slack_hostile_text)
def test_any_text_stays_text(text: str) -> None:
    reader = read(runbook_page(explanation_with_text(text, items=1)))
    assert set(reader.tags) <= PAGE_TAGS
    assert "".join(reader.pre) == text
    assert text in "".join(reader.text)
