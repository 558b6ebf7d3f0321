"""The one error family every provider raises, and the status-code mapping they share.

ProviderError            user_message is safe to show in Discord; the rest goes to the log
├── ProviderAuthError    401/403: the key is wrong or lacks access
├── ProviderRejected     other 4xx: the request (bot, prompt, options) was refused
├── ProviderRateLimited  429: carries retry_after seconds when the vendor says
├── ProviderUnavailable  5xx, timeouts, connection failures
└── ProviderBadResponse  malformed JSON, a stream cut off before its end marker
"""

from __future__ import annotations

import json
import re

VENDOR_TEXT_CHARS = 200
"""A vendor's own explanation is quoted to members (it says what was wrong), clipped to this length."""


class ProviderError(Exception):
    """A provider call failed; `user_message` is short, plain and free of bodies, URLs and secrets."""

    def __init__(self, user_message: str, *, detail: str = "", status: int | None = None) -> None:
        super().__init__(f"{user_message} ({detail})" if detail else user_message)
        self.user_message = user_message
        self.detail = detail
        self.status = status


class ProviderAuthError(ProviderError):
    pass


class ProviderRejected(ProviderError):
    pass


class ProviderRateLimited(ProviderError):
    def __init__(self, user_message: str, *, retry_after_s: float | None = None, detail: str = "") -> None:
        super().__init__(user_message, detail=detail, status=429)
        self.retry_after_s = retry_after_s


class ProviderUnavailable(ProviderError):
    pass


class ProviderBadResponse(ProviderError):
    pass


def error_for_status(provider: str, status: int, detail: str, *, key_setting: str) -> ProviderError:
    """Map an HTTP status to the error family with a message that says what to do next."""
    if status in (401, 403):
        return ProviderAuthError(
            f"{provider} refused the bot's credentials. The bot owner should check {key_setting}.",
            detail=detail,
            status=status,
        )
    if status == 429:
        return ProviderRateLimited(f"{provider} is rate limiting the bot; try again in a minute.", detail=detail)
    if status >= 500:
        return ProviderUnavailable(
            f"{provider} is having trouble right now ({status}); try again in a minute.",
            detail=detail,
            status=status,
        )
    return ProviderRejected(f"{provider} could not answer that request.", detail=detail, status=status)


def vendor_text(body: str, key: str) -> str:
    """The human explanation at `key` of a JSON error body, flattened to one short line safe to quote."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return ""
    text = parsed.get(key) if isinstance(parsed, dict) else None
    if not isinstance(text, str):
        return ""
    flat = re.sub(r"\s+", " ", text.replace("`", "'")).strip()
    return flat if len(flat) <= VENDOR_TEXT_CHARS else flat[: VENDOR_TEXT_CHARS - 1] + "…"
