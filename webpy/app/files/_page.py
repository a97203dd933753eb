"""The look of the pages the file server writes itself: listings and error pages.

One small stylesheet, inline so a page is one response: readable from a
phone (390 CSS pixels) to a desktop, light or dark as the reader's system
prefers (``prefers-color-scheme``), and no script. Callers pass text that is
already escaped; nothing here sees a request.
"""

from __future__ import annotations

from html import escape

STYLE = """\
:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--muted:#59636e;--line:#d8dee4;\
--link:#0550ae;--hover:#f6f8fa}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;\
--line:#30363d;--link:#58a6ff;--hover:#161b22}}
*{box-sizing:border-box}
body{margin:0 auto;max-width:64rem;padding:1.5rem 1rem;background:var(--bg);color:var(--fg);\
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif}
a{color:var(--link);text-decoration:none}a:hover,a:focus{text-decoration:underline}
h1{font-size:1.375rem;font-weight:600;margin:.25rem 0 1rem;overflow-wrap:anywhere}
.crumbs{display:inline}
table{width:100%;border-collapse:collapse;table-layout:fixed}
th,td{padding:.5rem;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{font-weight:600;white-space:nowrap}th a{color:inherit}
td.name{overflow-wrap:anywhere}.dir a{font-weight:600}
tbody tr:hover{background:var(--hover)}
.size{width:7rem;text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
.date{width:12rem;white-space:nowrap;font-variant-numeric:tabular-nums;color:var(--muted)}
.summary,.note{color:var(--muted)}
@media (max-width:40rem){body{padding:1rem .75rem}th,td{padding:.5rem .25rem}\
.size{width:5rem}.date{width:6.5rem}.clock,.wide{display:none}}
"""


def page(title: str, body: str) -> str:
    """A whole HTML document: `title` and `body` must already be escaped."""
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="color-scheme" content="light dark">',
        f"<title>{title}</title>",
        f"<style>\n{STYLE}</style></head>",
        "<body>",
        body,
        "</body></html>",
        "",
    ])


#: What each error page says, beyond its status line; never taken from the request.
_EXPLANATIONS = {
    400: "The request could not be understood.",
    403: "This address exists, but its content is not shown.",
    404: "Nothing is served at this address.",
    405: "This address does not accept that method.",
    409: "The request conflicts with what is stored here.",
    412: "A condition of the request does not hold.",
    413: "The request body is too large.",
    416: "The requested range lies outside the file.",
}


def error_page(status: int, reason: str, home: str) -> str:
    """An error page for a browser: the status, a fixed explanation, a link to `home`.

    `home` is the mount's URL path (percent-encoded); `reason` is the status's
    standard phrase or one the server chose, never text from the request.
    """
    heading = escape(f"{status} {reason}")
    explanation = _EXPLANATIONS.get(status, "The request was not served.")
    body = "\n".join([
        f"<h1>{heading}</h1>",
        f"<p>{escape(explanation)}</p>",
        f'<p class="note"><a href="{escape(home)}">Back to the top</a></p>',
    ])
    return page(heading, body)
