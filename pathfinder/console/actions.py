"""One way to run a form's action: call the service, then show the result or the errors.

On success the browser is sent back to the page with a notice (post/redirect/get); on a
refusal the page is drawn again with the errors beside the fields of the form that failed,
and the status the API would have answered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import redirect
from flask.typing import ResponseReturnValue

from pathfinder.api.errors import Problem
from pathfinder.console.forms import FormErrors, problem_errors


def run_action(
    action: Callable[[], Any],
    *,
    form: str,
    done: Callable[[Any], str],
    redraw: Callable[[dict[str, dict[str, str]], int], ResponseReturnValue],
    prefix: str = "",
) -> ResponseReturnValue:
    """Run ``action``; redirect to ``done(result)``, or ``redraw({form: errors}, status)``."""
    try:
        result = action()
    except FormErrors as exc:
        return redraw({form: exc.errors}, 422)
    except Problem as exc:
        return redraw({form: problem_errors(exc, prefix=prefix)}, exc.status)
    return redirect(done(result))
