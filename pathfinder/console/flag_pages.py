"""Groups and feature flags: list, create, change; user and group overrides with expiry;
and an "explain" box showing a chosen user's value with the evaluator's reason."""

from __future__ import annotations

import json
from typing import Any

from flask import render_template, request, url_for
from flask.typing import ResponseReturnValue

from pathfinder.admin import groups
from pathfinder.admin import users as user_admin
from pathfinder.admin.schemas import GroupCreate, GroupListQuery, GroupUpdate
from pathfinder.api.errors import Problem
from pathfinder.console.actions import run_action
from pathfinder.console.blueprint import bp, page, principal
from pathfinder.console.forms import FormErrors, confirmed, parse, text
from pathfinder.flags import service as flags
from pathfinder.flags.schemas import (
    FlagCreate,
    FlagListQuery,
    FlagUpdate,
    OverrideCreate,
    OverrideListQuery,
    OverrideUpdate,
)

FLAG_TYPES = ("boolean", "string", "number", "json")


def json_value(raw: str | None, field: str) -> Any:
    """A typed value from a text box: JSON (``true``, ``42``, ``"x"``, ``{...}``), or a bare
    word as a string, as ``pathfinder flags set`` reads it."""
    if raw is None or not raw.strip():
        raise FormErrors({field: "Enter a value."})
    try:
        return json.loads(raw)
    except ValueError:
        return raw.strip()


def utc_time(raw: str | None) -> str | None:
    """A ``datetime-local`` value, read as UTC (the label says so), as the RFC 3339 date-time
    the API's models take: browsers leave out the seconds and the offset."""
    if not raw:
        return None
    if len(raw) == len("2024-05-01T09:30"):
        raw += ":00"
    return raw if raw.endswith("Z") or "+" in raw else raw + "+00:00"


def _group_options() -> list[tuple[str, str]]:
    items = groups.list_groups(GroupListQuery(limit=100))["items"]
    return [(g["id"], g["name"]) for g in items]


# -- groups -------------------------------------------------------------------------------


def _groups_page(
    errors: dict[str, dict[str, str]], status: int, form: dict[str, Any] | None = None
) -> ResponseReturnValue:
    found = groups.list_groups(GroupListQuery(limit=100))
    return render_template(
        "console/groups.html", found=found, errors=errors, form=form or {}
    ), status


@bp.get("/groups", endpoint="groups")
@page("admin")
def groups_page() -> ResponseReturnValue:
    """Feature groups, their priority and which is the default."""
    return _groups_page({}, 200)


def _group_body(model: type[Any], form: Any) -> Any:
    return parse(
        model,
        {
            "name": text(form, "name"),
            "description": text(form, "description"),
            "priority": text(form, "priority") or 0,
            "is_default": form.get("is_default") == "yes",
        },
    )


@bp.post("/groups")
@page("admin")
def create_group() -> ResponseReturnValue:
    form = {k: request.form.get(k, "") for k in ("name", "description", "priority", "is_default")}
    return run_action(
        lambda: groups.create_group(principal(), _group_body(GroupCreate, request.form)),
        form="create",
        done=lambda g: url_for("console.groups", notice=f"Group {g['name']} created."),
        redraw=lambda errors, status: _groups_page(errors, status, form),
    )


@bp.post("/groups/<group_id>")
@page("admin")
def update_group(group_id: str) -> ResponseReturnValue:
    return run_action(
        lambda: groups.update_group(principal(), group_id, _group_body(GroupUpdate, request.form)),
        form=f"edit-{group_id}",
        done=lambda g: url_for("console.groups", notice=f"Group {g['name']} changed."),
        redraw=lambda errors, status: _groups_page(errors, status),
    )


@bp.post("/groups/<group_id>/delete")
@page("admin")
def delete_group(group_id: str) -> ResponseReturnValue:
    def action() -> None:
        confirmed(request.form)
        groups.delete_group(principal(), group_id)

    return run_action(
        action,
        form=f"delete-{group_id}",
        done=lambda _r: url_for("console.groups", notice="The group is deleted."),
        redraw=lambda errors, status: _groups_page(errors, status),
    )


# -- flags --------------------------------------------------------------------------------


def _flags_page(
    errors: dict[str, dict[str, str]], status: int, form: dict[str, Any] | None = None
) -> ResponseReturnValue:
    found = flags.list_flags(FlagListQuery(limit=100))
    return render_template(
        "console/flags.html",
        found=found,
        errors=errors,
        form=form or {},
        type_options=[(t, t) for t in FLAG_TYPES],
    ), status


@bp.get("/flags", endpoint="flags")
@page("admin")
def flags_page() -> ResponseReturnValue:
    """Every flag with its type, default, rollout and whether it is on."""
    return _flags_page({}, 200)


@bp.post("/flags")
@page("admin")
def create_flag() -> ResponseReturnValue:
    form = {
        k: request.form.get(k, "")
        for k in (
            "flag_key",
            "name",
            "description",
            "flag_type",
            "default_value",
            "rollout_percentage",
            "category",
        )
    }

    def action() -> Any:
        body = parse(
            FlagCreate,
            {
                "flag_key": text(request.form, "flag_key"),
                "name": text(request.form, "name"),
                "description": text(request.form, "description"),
                "flag_type": request.form.get("flag_type"),
                "default_value": json_value(request.form.get("default_value"), "default_value"),
                "rollout_percentage": text(request.form, "rollout_percentage") or 0,
                "enabled": request.form.get("enabled") == "yes",
                "category": text(request.form, "category"),
            },
        )
        return flags.create_flag(principal(), body)

    return run_action(
        action,
        form="create",
        done=lambda f: url_for("console.flag", key=f["flag_key"], notice="Flag created."),
        redraw=lambda errors, status: _flags_page(errors, status, form),
    )


def _flag_page(
    key: str,
    errors: dict[str, dict[str, str]],
    status: int,
    *,
    explained: dict[str, Any] | None = None,
    explain_for: str = "",
) -> ResponseReturnValue:
    flag = flags.get_flag(key)
    overrides = flags.list_overrides(key, OverrideListQuery(limit=100))["items"]
    group_names = dict(_group_options())
    return render_template(
        "console/flag.html",
        flag=flag,
        overrides=overrides,
        group_names=group_names,
        group_options=list(group_names.items()),
        errors=errors,
        explained=explained,
        explain_for=explain_for,
        value_text=json.dumps(flag["default_value"]),
    ), status


@bp.get("/flags/<key>")
@page("admin")
def flag(key: str) -> ResponseReturnValue:
    """One flag: change it, its overrides, and the explain box (``?user=...``)."""
    who = (request.args.get("user") or "").strip()
    if not who:
        return _flag_page(key, {}, 200)
    try:
        explained = flags.explain(key, user_admin.user_id_by_login(who))
    except Problem as exc:
        errors = {"explain": {"user": exc.detail or exc.title}}
        return _flag_page(key, errors, exc.status, explain_for=who)
    return _flag_page(key, {}, 200, explained=explained, explain_for=who)


@bp.post("/flags/<key>")
@page("admin")
def update_flag(key: str) -> ResponseReturnValue:
    def action() -> Any:
        body = parse(
            FlagUpdate,
            {
                "name": text(request.form, "name"),
                "description": text(request.form, "description"),
                "default_value": json_value(request.form.get("default_value"), "default_value"),
                "rollout_percentage": text(request.form, "rollout_percentage") or 0,
                "enabled": request.form.get("enabled") == "yes",
            },
        )
        return flags.update_flag(principal(), key, body)

    return run_action(
        action,
        form="change",
        done=lambda _f: url_for("console.flag", key=key, notice="Flag changed."),
        redraw=lambda errors, status: _flag_page(key, errors, status),
    )


@bp.post("/flags/<key>/delete")
@page("admin")
def delete_flag(key: str) -> ResponseReturnValue:
    def action() -> None:
        confirmed(request.form)
        flags.delete_flag(principal(), key)

    return run_action(
        action,
        form="delete",
        done=lambda _r: url_for("console.flags", notice=f"Flag {key} deleted."),
        redraw=lambda errors, status: _flag_page(key, errors, status),
    )


@bp.post("/flags/<key>/overrides")
@page("admin")
def create_override(key: str) -> ResponseReturnValue:
    def action() -> Any:
        target: dict[str, Any] = {}
        if request.form.get("target") == "user":
            who = text(request.form, "username")
            if not who:
                raise FormErrors({"username": "Enter a username or e-mail address."})
            target["user_id"] = user_admin.user_id_by_login(who)
        else:
            target["group_id"] = text(request.form, "group_id")
            if not target["group_id"]:
                raise FormErrors({"group_id": "Choose a group."})
        body = parse(
            OverrideCreate,
            {
                **target,
                "value": json_value(request.form.get("value"), "value"),
                "reason": text(request.form, "reason"),
                "expires_at": utc_time(text(request.form, "expires_at")),
            },
        )
        return flags.create_override(principal(), key, body)

    return run_action(
        action,
        form="override",
        done=lambda _o: url_for("console.flag", key=key, notice="Override added."),
        redraw=lambda errors, status: _flag_page(key, errors, status),
    )


@bp.post("/flags/<key>/overrides/<override_id>")
@page("admin")
def update_override(key: str, override_id: str) -> ResponseReturnValue:
    """Change an override's value, reason or expiry (empty expiry: never expires)."""

    def action() -> Any:
        body = parse(
            OverrideUpdate,
            {
                "value": json_value(request.form.get("value"), "value"),
                "reason": text(request.form, "reason"),
                "expires_at": utc_time(text(request.form, "expires_at")),
            },
        )
        return flags.update_override(principal(), key, override_id, body)

    return run_action(
        action,
        form=f"edit-{override_id}",
        done=lambda _o: url_for("console.flag", key=key, notice="Override changed."),
        redraw=lambda errors, status: _flag_page(key, errors, status),
    )


@bp.post("/flags/<key>/overrides/<override_id>/delete")
@page("admin")
def delete_override(key: str, override_id: str) -> ResponseReturnValue:
    def action() -> None:
        confirmed(request.form)
        flags.delete_override(principal(), key, override_id)

    return run_action(
        action,
        form=f"remove-{override_id}",
        done=lambda _r: url_for("console.flag", key=key, notice="Override removed."),
        redraw=lambda errors, status: _flag_page(key, errors, status),
    )
