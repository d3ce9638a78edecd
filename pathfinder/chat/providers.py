"""The assistant behind chat: a provider interface and its two implementations.

``CHAT_PROVIDER`` picks one per request (config is read on use, so no restart of anything
but the app is needed to switch):

* ``offline`` (default): :class:`OfflineProvider`, deterministic answers from the caller's
  own profile (:mod:`pathfinder.chat.offline`). No network, no key; chat works anywhere.
* ``openai``: :class:`OpenAICompatibleProvider`, any server speaking the OpenAI
  ``/chat/completions`` protocol. URL, model and key come from config
  (``CHAT_PROVIDER_URL``, ``CHAT_PROVIDER_MODEL``, ``CHAT_PROVIDER_API_KEY``, i.e. the
  ``PATHFINDER_CHAT_PROVIDER_*`` environment), never from code. The key only travels over
  HTTPS (plain HTTP is accepted for loopback addresses, for local model servers), and
  redirects are refused so it is never replayed to another host.

Both report token usage: the remote one as the server counts it (its ``usage`` block), the
offline one as an estimate (:func:`estimate_tokens`), so usage means the same thing in
either mode. A provider failure is a :class:`ChatProviderError` whose message is safe to
show a client (no key, no response body).
"""

from __future__ import annotations

import ipaddress
import json
import math
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from pathfinder.chat import offline
from pathfinder.chat.profile import ProfileSnapshot

OFFLINE_MODEL = "pathfinder-offline"
CHAT_DEFAULTS: dict[str, Any] = {
    # "offline" (built in) or "openai" (an OpenAI-compatible HTTP server).
    "CHAT_PROVIDER": "offline",
    # Base URL of the server, e.g. https://api.openai.com/v1 (POSTs go to <url>/chat/completions).
    "CHAT_PROVIDER_URL": None,
    "CHAT_PROVIDER_MODEL": None,
    "CHAT_PROVIDER_API_KEY": None,
    # Further models users may pick for a conversation (comma-separated), besides the default.
    "CHAT_PROVIDER_MODELS": None,
    "CHAT_PROVIDER_TIMEOUT_SECONDS": 30,
    "CHAT_PROVIDER_MAX_TOKENS": 800,
    # How many earlier messages of a conversation accompany a new one.
    "CHAT_HISTORY_MESSAGES": 20,
}
MAX_RESPONSE_BYTES = 1_048_576
MAX_DIGEST_ROLES = 15
MAX_DIGEST_SKILLS = 60


class ChatProviderError(Exception):
    """The provider could not answer; the message is safe to show the client."""


class ChatNotConfigured(ChatProviderError):
    """The configured provider is missing settings (an operator's problem, not the user's)."""


@dataclass(frozen=True)
class ChatTurn:
    role: str  # "user" | "assistant" | "system"
    content: str


@dataclass(frozen=True)
class ChatRequest:
    """What a provider gets: the conversation so far (ending with the new user message)."""

    turns: tuple[ChatTurn, ...]
    model: str
    context: str | None
    profile: ProfileSnapshot

    @property
    def question(self) -> str:
        return self.turns[-1].content if self.turns else ""


@dataclass(frozen=True)
class ChatCompletion:
    content: str
    model: str
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class ChatProvider(Protocol):
    """Anything that turns a :class:`ChatRequest` into a :class:`ChatCompletion`."""

    name: str
    default_model: str

    def models(self) -> tuple[str, ...]:
        """The models a conversation may ask for (the default first)."""
        ...

    def complete(self, request: ChatRequest) -> ChatCompletion:
        """Answer the request's last user message; raises :class:`ChatProviderError`."""
        ...


def estimate_tokens(text: str) -> int:
    """Roughly how many tokens ``text`` is: one per four characters (at least one)."""
    return max(1, math.ceil(len(text) / 4))


class OfflineProvider:
    """Deterministic answers from the caller's profile; no network, no model."""

    name = "offline"
    default_model = OFFLINE_MODEL

    def models(self) -> tuple[str, ...]:
        return (OFFLINE_MODEL,)

    def complete(self, request: ChatRequest) -> ChatCompletion:
        reply = offline.answer(request.question, request.profile)
        prompt = sum(estimate_tokens(turn.content) for turn in request.turns)
        return ChatCompletion(reply, OFFLINE_MODEL, prompt, estimate_tokens(reply))


def profile_digest(profile: ProfileSnapshot) -> str:
    """The compact profile sent to a remote model: roles, dates and skills, nothing else."""
    lines = [f"Total experience: {profile.total_years:g} years (overlaps counted once)."]
    if profile.headline:
        lines.append(f"Headline: {profile.headline}")
    for role in profile.roles[:MAX_DIGEST_ROLES]:
        end = "present" if role.end_date is None else role.end_date.isoformat()
        company = f" at {role.company}" if role.company else ""
        tech = f"; technologies: {', '.join(role.technologies[:15])}" if role.technologies else ""
        lines.append(f"- {role.title}{company}, {role.start_date.isoformat()} to {end}{tech}")
    skills = [
        f"{s.name} ({s.category or 'other'}"
        + (f", level {s.proficiency_level}/5" if s.proficiency_level else "")
        + (f", {s.years_experience:g}y" if s.years_experience else "")
        + ")"
        for s in profile.skills[:MAX_DIGEST_SKILLS]
    ]
    if skills:
        lines.append("Skills: " + "; ".join(skills))
    return "\n".join(lines)


SYSTEM_PROMPT = (
    "You are Pathfinder's career assistant. Answer the user's questions about their own "
    "career using the profile below; say so when the profile does not contain the answer. "
    "Be concise."
)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Never follow a redirect: it would carry the Authorization header to another URL."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class OpenAICompatibleProvider:
    """A client of an OpenAI-compatible ``/chat/completions`` endpoint (standard library)."""

    name = "openai"

    def __init__(
        self,
        *,
        url: str,
        api_key: str | None,
        model: str,
        extra_models: Sequence[str] = (),
        timeout: float = 30.0,
        max_tokens: int = 800,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ChatNotConfigured("CHAT_PROVIDER_URL must be an http(s) URL.")
        if parts.scheme == "http" and not _is_loopback(parts.hostname):
            raise ChatNotConfigured("CHAT_PROVIDER_URL must use https (http only for loopback).")
        base = url.rstrip("/")
        self.endpoint = base if base.endswith("/chat/completions") else base + "/chat/completions"
        self._api_key = api_key
        self.default_model = model
        self._models = tuple(dict.fromkeys([model, *extra_models]))
        self.timeout = timeout
        self.max_tokens = max_tokens
        self._opener = urllib.request.build_opener(_RefuseRedirects())

    def __repr__(self) -> str:  # never show the key
        return f"OpenAICompatibleProvider(endpoint={self.endpoint!r}, model={self.default_model!r})"

    def models(self) -> tuple[str, ...]:
        return self._models

    def payload(self, request: ChatRequest) -> dict[str, Any]:
        """The JSON body sent: system prompt with the profile digest, then the turns."""
        system = SYSTEM_PROMPT + "\n\nProfile:\n" + profile_digest(request.profile)
        if request.context:
            system += "\n\nConversation context from the user:\n" + request.context
        messages = [{"role": "system", "content": system}]
        messages += [{"role": t.role, "content": t.content} for t in request.turns]
        return {"model": request.model, "messages": messages, "max_tokens": self.max_tokens}

    def complete(self, request: ChatRequest) -> ChatCompletion:
        body = json.dumps(self.payload(request)).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        http_request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.endpoint, data=body, headers=headers, method="POST"
        )
        try:
            with self._opener.open(http_request, timeout=self.timeout) as response:
                raw = response.read(MAX_RESPONSE_BYTES + 1)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise ChatProviderError(
                f"The assistant service answered HTTP {exc.code}; try again later."
            ) from None
        except TimeoutError:
            raise ChatProviderError(
                f"The assistant service did not answer within {self.timeout:g} seconds."
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError):
                raise ChatProviderError(
                    f"The assistant service did not answer within {self.timeout:g} seconds."
                ) from None
            raise ChatProviderError("The assistant service could not be reached.") from None
        if len(raw) > MAX_RESPONSE_BYTES:
            raise ChatProviderError("The assistant service sent an oversized answer.")
        return self._parse(raw, request)

    def _parse(self, raw: bytes, request: ChatRequest) -> ChatCompletion:
        try:
            document = json.loads(raw)
            content = document["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise ChatProviderError(
                "The assistant service sent an answer it could not read."
            ) from None
        if not isinstance(content, str) or not content.strip():
            raise ChatProviderError("The assistant service sent an empty answer.")
        usage = document.get("usage") if isinstance(document, Mapping) else None
        prompt = _count(usage, "prompt_tokens")
        completion = _count(usage, "completion_tokens")
        if prompt is None:
            prompt = sum(estimate_tokens(t.content) for t in request.turns)
        if completion is None:
            completion = estimate_tokens(content)
        model = document.get("model")
        return ChatCompletion(
            content=content,
            model=model[:100] if isinstance(model, str) and model else request.model,
            prompt_tokens=prompt,
            completion_tokens=completion,
        )


def _count(usage: Any, key: str) -> int | None:
    if not isinstance(usage, Mapping):
        return None
    value = usage.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10_000_000:
        return value
    return None


def _setting(config: Mapping[str, Any], key: str) -> Any:
    return config.get(key, CHAT_DEFAULTS[key])


def provider_from_config(config: Mapping[str, Any]) -> ChatProvider:
    """The provider ``CHAT_PROVIDER`` names, built from the app config.

    Raises :class:`ChatNotConfigured` for an unknown provider or missing settings.
    """
    kind = str(_setting(config, "CHAT_PROVIDER") or "offline").lower()
    if kind == "offline":
        return OfflineProvider()
    if kind != "openai":
        raise ChatNotConfigured(f"Unknown CHAT_PROVIDER {kind!r} (offline or openai).")
    url = _setting(config, "CHAT_PROVIDER_URL")
    model = _setting(config, "CHAT_PROVIDER_MODEL")
    if not url or not model:
        raise ChatNotConfigured("CHAT_PROVIDER_URL and CHAT_PROVIDER_MODEL must be set.")
    extra = _setting(config, "CHAT_PROVIDER_MODELS") or ()
    if isinstance(extra, str):
        extra = [m.strip() for m in extra.split(",") if m.strip()]
    try:
        timeout = float(_setting(config, "CHAT_PROVIDER_TIMEOUT_SECONDS"))
        max_tokens = int(_setting(config, "CHAT_PROVIDER_MAX_TOKENS"))
    except (TypeError, ValueError):
        raise ChatNotConfigured(
            "CHAT_PROVIDER_TIMEOUT_SECONDS/MAX_TOKENS must be numbers."
        ) from None
    return OpenAICompatibleProvider(
        url=str(url),
        api_key=_setting(config, "CHAT_PROVIDER_API_KEY"),
        model=str(model),
        extra_models=[str(m) for m in extra],
        timeout=timeout,
        max_tokens=max_tokens,
    )
