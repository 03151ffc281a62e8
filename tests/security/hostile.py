"""What an attacker or a careless exporter puts in: markup, SQL and passwords, and how to tell whether they got through.

Every HTML payload, if a page ever ran it, leaves a mark a browser can be asked about: it sets a
``data-xss-*`` attribute on the page's root element. ``marks_in_chromium`` opens a page in headless
Chromium, lets its scripts run and returns those marks; ``live_markup`` finds, without a browser,
the payload as markup (an element or attribute the page did not mean to have). The first says what
a reader's browser would do; the second also catches an element that does nothing only because
an inline event never fired.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

from tests.browser import root_attributes

SET_MARK = "document.documentElement.dataset"  # every payload's code starts with this
HTML_PAYLOADS = (
    f"<script>{SET_MARK}.xssScript=1</script>",
    f"<img src=x onerror={SET_MARK}.xssImg=1>",
    f'"><svg onload={SET_MARK}.xssDouble=1>',  # breaks out of a double-quoted attribute
    f"'><svg onload={SET_MARK}.xssSingle=1>",  # ... and out of a single-quoted one
    f"</style></title></textarea><script>{SET_MARK}.xssClose=1</script>",  # out of raw-text elements
)
SQL_PAYLOAD = "x'); DROP TABLE lead_scores; --"  # in ids: must be stored and shown as typed

# passwords as people choose them: the URL delimiters unencoded, and percent-encoded
PASSWORDS = ("S3cr3t-Plain-42", "p@ss#w0rd-XYZ@", "pa:ss/wo%rd?Q&", "en%40coded%23Pw9")


class _Markup(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        for name, value in attrs:
            if SET_MARK in (value or "") and name.startswith("on"):
                self.found.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script and SET_MARK in data:
            self.found.append(f"<script>{data.strip()[:80]}")


def live_markup(page: str) -> list[str]:
    """Payloads that are markup in ``page`` (an event handler or a script carrying one), not text."""
    parser = _Markup()
    parser.feed(page)
    parser.close()
    return parser.found


def marks_in_chromium(page: Path) -> list[str]:
    """The ``data-xss-*`` marks a page's scripts left on its root element after loading in headless Chromium."""
    return [name for name in root_attributes(page) if name.startswith("data-xss")]
