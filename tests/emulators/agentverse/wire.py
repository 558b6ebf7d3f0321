"""Fixed facts of the wire: paths, models, token rules and the service's strings (protocol-notes section 4)."""

from __future__ import annotations

SESSIONS_PATH = "/v1beta1/engine/chat/sessions"
"""``POST`` creates a session; ``{sid}/submit``, ``{sid}/new-messages`` and ``{sid}/responses`` hang off it."""
TOKENS_PATH = "/v1/tokens"
"""On the auth server (``accounts.fetch.ai`` in real life, :attr:`AgentverseEmulator.auth_url` here)."""

KNOWN_MODELS: tuple[str, ...] = (
    "talkative-01",
    "thoughtful-01",
    "creative-01",
    "gemini-pro",
    "next-gen",
    "ml-recommender-01",
)
DEFAULT_MODEL = "next-gen"
"""What a create call without any model key gets (the Python SDK's default)."""
PUBLIC_FUNCTION_GROUP = "e504eabb-4bc7-458d-aa8c-7c3748f8952c"
"""``function_group`` when the client sends no ``functionGroup`` ("defaults to Public")."""
REMAINING_TOKENS = 10_000_000

SUBMIT_TYPES: tuple[str, ...] = ("start", "user_json", "user_message", "stop", "execute_functions")
USER_JSON_TYPES: tuple[str, ...] = ("task_list", "options")

DEFAULT_ACCESS_TOKEN = "av-access-1"
DEFAULT_REFRESH_TOKEN = "av-refresh-1"
CLIENT_ID = "agentverse"
SCOPE = "av"
GRANT_TYPE = "refresh_token"
ACCESS_EXPIRES_IN_S = 3600
"""``expires_in`` of a refreshed token when no TTL is enforced (nominal only)."""
REFRESH_EXPIRES_IN_S = 86_400

TOKEN_EXPIRED = "Token expired"
INVALID_TOKEN = "Invalid token"
NOT_AUTHENTICATED = "Not authenticated"
SESSION_NOT_FOUND = "Session not found"
NOT_FOUND = "Not Found"
METHOD_NOT_ALLOWED = "Method Not Allowed"
REFRESH_REJECTED = "Refresh token expired or invalid"
"""``detail`` of the 422 a stale, unknown or expired refresh token gets."""
BAD_CLIENT = "Invalid client_id or scope"
BAD_GRANT = "Unsupported grant_type"

MALFORMED_ELEMENT = '{"message_id": "6f1d0c2e-garbled", "timestamp": "2024-05-01T10:00:00", "type": "agent_mes'
"""The element a poll carries when ``malformed_polls`` is set: a string that is not valid JSON."""

TASK_LIST_TEXT = "Found tasks for your objective. Please select."
BUILDING_CONTEXT = "I start building the context to execute '{task}' task.."
SUBTASK_TEXT = "Please select one of the following subtasks for '{task}'."
QUESTION = "What is your departure city?"
CONFIRM_TEXT = "Please confirm the following details for '{task}':"
COMPLETED = "I have completed your task! Please reset your chat session before submitting your new request."
"""The ``agent_info`` the reference doc treats as the end of a task."""
