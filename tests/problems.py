"""Reading the API's problem+json answers in tests."""

from __future__ import annotations

from typing import Any


def invalid_fields(response: Any) -> list[str]:
    """The fields a 422 ``validation-error`` names, in its order (fails on any other answer)."""
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    return [error["field"] for error in response.get_json()["errors"]]
