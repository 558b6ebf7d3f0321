"""Discord-shaped API errors.

Handlers raise :class:`ApiError`; the middleware turns it into the exact JSON body Discord
would send, so discord.py raises the same ``HTTPException`` subclasses it would in production.
"""

from __future__ import annotations

from typing import Any

ErrorPath = tuple[str | int, ...]


class ApiError(Exception):
    """An HTTP error with Discord's ``{"message", "code", "errors"?}`` body."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        """The JSON body Discord sends for this error."""
        out: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            out["errors"] = self.errors
        return out


class FormErrors:
    """Collects field errors and raises one ``50035 Invalid Form Body`` (Discord reports all at once)."""

    def __init__(self) -> None:
        self.tree: dict[str, Any] = {}

    def add(self, path: ErrorPath, code: str, message: str) -> None:
        node = self.tree
        for part in path:
            node = node.setdefault(str(part), {})
        node.setdefault("_errors", []).append({"code": code, "message": message})

    def max_length(self, path: ErrorPath, limit: int) -> None:
        self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def bad_length(self, path: ErrorPath, low: int, high: int) -> None:
        self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")

    def required(self, path: ErrorPath) -> None:
        self.add(path, "BASE_TYPE_REQUIRED", "This field is required")

    def choices(self, path: ErrorPath, allowed: str) -> None:
        self.add(path, "BASE_TYPE_CHOICES", f"Value must be one of {allowed}.")

    def wrong_type(self, path: ErrorPath, expected: str) -> None:
        codes = {"string": "BASE_TYPE_STRING", "integer": "NUMBER_TYPE_COERCE", "array": "BASE_TYPE_ARRAY"}
        messages = {"string": "Could not interpret value as string.", "array": "Must be an array."}
        self.add(path, codes.get(expected, "BASE_TYPE_INVALID"), messages.get(expected, f"Expected {expected}."))

    def __bool__(self) -> bool:
        return bool(self.tree)

    def raise_if_any(self) -> None:
        if self.tree:
            raise invalid_form_body(self.tree)


def invalid_form_body(errors: dict[str, Any]) -> ApiError:
    return ApiError(400, 50035, "Invalid Form Body", errors)


def single_field_error(path: ErrorPath, code: str, message: str) -> ApiError:
    """A ``50035`` error with exactly one field problem."""
    form = FormErrors()
    form.add(path, code, message)
    return invalid_form_body(form.tree)


def unauthorized() -> ApiError:
    return ApiError(401, 0, "401: Unauthorized")


def not_found_route() -> ApiError:
    return ApiError(404, 0, "404: Not Found")


def unknown_channel() -> ApiError:
    return ApiError(404, 10003, "Unknown Channel")


def unknown_message() -> ApiError:
    return ApiError(404, 10008, "Unknown Message")


def unknown_webhook() -> ApiError:
    return ApiError(404, 10015, "Unknown Webhook")


def unknown_interaction() -> ApiError:
    return ApiError(404, 10062, "Unknown interaction")


def unknown_application_command() -> ApiError:
    return ApiError(404, 10063, "Unknown application command")


def unknown_guild() -> ApiError:
    return ApiError(404, 10004, "Unknown Guild")


def unknown_user() -> ApiError:
    return ApiError(404, 10013, "Unknown User")


def unknown_member() -> ApiError:
    return ApiError(404, 10007, "Unknown Member")


def max_followups() -> ApiError:
    """40094 (opcodes-and-status-codes.mdx); the status is inferred."""
    return ApiError(400, 40094, "This interaction has hit the maximum number of follow up messages")


def already_acknowledged() -> ApiError:
    return ApiError(400, 40060, "Interaction has already been acknowledged.")


def empty_message() -> ApiError:
    return ApiError(400, 50006, "Cannot send an empty message")


def entity_too_large() -> ApiError:
    return ApiError(413, 40005, "Request entity too large")


def invalid_webhook_token() -> ApiError:
    return ApiError(401, 50027, "Invalid Webhook Token")


def invalid_recipients() -> ApiError:
    return ApiError(400, 50033, "Invalid Recipient(s)")


def cannot_execute_on_dm() -> ApiError:
    return ApiError(403, 50003, "Cannot execute action on a DM channel")


def wrong_channel_type() -> ApiError:
    return ApiError(400, 50024, "Cannot execute action on this channel type")


def cannot_edit_other_user() -> ApiError:
    return ApiError(403, 50005, "Cannot edit a message authored by another user")


def missing_access() -> ApiError:
    return ApiError(403, 50001, "Missing Access")


def thread_already_exists() -> ApiError:
    return ApiError(400, 160004, "A thread has already been created for this message")


def missing_permissions() -> ApiError:
    return ApiError(403, 50013, "Missing Permissions")


def thread_archived() -> ApiError:
    """400 50083: "Tried to perform an operation on an archived thread, such as editing a message or
    adding a user to the thread" (topics/opcodes-and-status-codes.mdx, JSON error codes)."""
    return ApiError(400, 50083, "Thread is archived")


thread_locked = thread_archived  # the emulator's original name for it


def locked_thread_forbidden() -> ApiError:
    """Writing in a *locked* thread without MANAGE_THREADS: Discord answers 403 with code 50083, as
    observed in github.com/discord/discord-api-docs/issues/7707 and /issues/6884."""
    return ApiError(403, 50083, "Thread is archived")


def cannot_reply_without_history() -> ApiError:
    """160002 "Cannot reply without permission to read message history" (opcodes-and-status-codes.mdx;
    message.mdx Create Message "Limitations"). The docs give only the code: status 400 is inferred."""
    return ApiError(400, 160002, "Cannot reply without permission to read message history")


def unknown_sticker() -> ApiError:
    """10060 Unknown sticker (opcodes-and-status-codes.mdx); status 400 inferred (a bad body field)."""
    return ApiError(400, 10060, "Unknown Sticker")
