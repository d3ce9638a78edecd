"""Operation summaries and descriptions read well in Swagger UI, which renders Markdown.

They come from the views' docstrings; reST's double backticks (``like this``) showed as
literal backticks around the text in 17 operations.
"""

from __future__ import annotations

from flask import Flask

from pathfinder.api.openapi import HTTP_METHODS, document_of


def test_no_operation_text_uses_rest_double_backticks(app: Flask) -> None:
    found = [
        f"{method.upper()} {path} {key}: {operation[key]!r}"
        for path, operations in document_of(app)["paths"].items()
        for method, operation in operations.items()
        if method in HTTP_METHODS
        for key in ("summary", "description")
        if "``" in (operation.get(key) or "")
    ]
    assert found == [], "write view docstrings in Markdown (`code`):\n" + "\n".join(found)
