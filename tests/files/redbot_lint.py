"""Run REDbot's checks on one URL and print its notes as JSON.

    python redbot_lint.py URL [NAME: VALUE]...

A separate process per URL, because REDbot runs on thor's process-wide event
loop. Each note is printed with its level (good, info, warning, bad), its
summary and its subnotes, for the test to judge.
"""

from __future__ import annotations

import json
import sys
from configparser import ConfigParser
from typing import Any

import thor
from redbot.resource import HttpResource


def lint(url: str, headers: list[tuple[str, str]]) -> dict[str, Any]:
    parser = ConfigParser()
    parser.read_dict({"redbot": {"enable_local_access": "True"}})
    resource = HttpResource(parser["redbot"], descend=False)
    resource.set_request(url, headers=headers)

    @thor.events.on(resource)
    def check_done() -> None:
        thor.stop()

    resource.check()
    thor.run()
    response = resource.response

    def describe(note: Any) -> dict[str, Any]:
        return {"level": note.level.value, "summary": note.summary,
                "subnotes": [describe(subnote) for subnote in note.subnotes]}

    return {
        "fetch_error": str(resource.fetch_error) if resource.fetch_error else None,
        "status": response.status_code,
        "headers": [list(pair) for pair in response.headers.text],
        "notes": [describe(note) for note in response.notes],
    }


if __name__ == "__main__":
    url, *fields = sys.argv[1:]
    pairs = [tuple(part.strip() for part in field.split(":", 1)) for field in fields]
    print(json.dumps(lint(url, pairs)))  # type: ignore[arg-type]
