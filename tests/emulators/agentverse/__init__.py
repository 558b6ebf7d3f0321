"""Loopback emulator of Fetch.ai's Agentverse AI Engine chat API and its token endpoint.

It follows the reference doc (``/work/shared/reference/agentverse-ai-engine-chat-api.txt``) and
protocol-notes section 4. The engine (``base_url``) serves, with ``Authorization: Bearer <token>``:

- ``POST /v1beta1/engine/chat/sessions``: create (``email``; ``requestedModel`` or legacy ``requestModel``)
- ``POST .../sessions/{sid}/submit``: ``{"payload": {"type": start|user_json|user_message|stop|execute_functions}}``
- ``GET .../sessions/{sid}/new-messages[?last_message_id=]`` and the deprecated ``GET .../responses``:
  ``{"agent_response": [<JSON string of a message>, ...]}``

The auth server (``auth_url``) serves ``POST /v1/tokens`` (refresh grant). Each session plays a
scripted :class:`Flow` (``FLOWS``; see ``builtin``), driven by what the client submits. Messages
become available ``delay_s`` after the submit that caused them, with the time recorded, so a
benchmark can measure engine → Discord latency. Binds 127.0.0.1 on ephemeral ports only.

Typical use::

    async with AgentverseEmulator(delay_s=0.05) as emu:
        ...  # point the bot at emu.base_url and emu.token_url
        start = await emu.wait_for_submit("start")
        session = emu.latest_session
        assert session.completed and session.stopped
"""

from .builtin import DEFAULT_TASKS, FLOWS, MANY_TASKS, SUGGESTIONS, builtin_flows, travel_flow
from .flows import END_STATE, Flow, Step, Turn, submit_kind
from .handlers import Dropped
from .messages import (
    AgentMessage,
    agent_error,
    agent_info,
    agent_message,
    confirm_json,
    date_json,
    options_json,
    render,
    stop_message,
    task_list_json,
)
from .records import AgentverseRequest, Emitted, SessionRecord
from .server import AgentverseEmulator
from .tokens import TokenStore
from .wire import (
    BUILDING_CONTEXT,
    CLIENT_ID,
    COMPLETED,
    DEFAULT_ACCESS_TOKEN,
    DEFAULT_MODEL,
    DEFAULT_REFRESH_TOKEN,
    INVALID_TOKEN,
    KNOWN_MODELS,
    MALFORMED_ELEMENT,
    NOT_AUTHENTICATED,
    QUESTION,
    REFRESH_REJECTED,
    SCOPE,
    SESSION_NOT_FOUND,
    SESSIONS_PATH,
    TASK_LIST_TEXT,
    TOKEN_EXPIRED,
    TOKENS_PATH,
)

__all__ = [
    "BUILDING_CONTEXT",
    "CLIENT_ID",
    "COMPLETED",
    "DEFAULT_ACCESS_TOKEN",
    "DEFAULT_MODEL",
    "DEFAULT_REFRESH_TOKEN",
    "DEFAULT_TASKS",
    "END_STATE",
    "FLOWS",
    "INVALID_TOKEN",
    "KNOWN_MODELS",
    "MALFORMED_ELEMENT",
    "MANY_TASKS",
    "NOT_AUTHENTICATED",
    "QUESTION",
    "REFRESH_REJECTED",
    "SCOPE",
    "SESSIONS_PATH",
    "SESSION_NOT_FOUND",
    "SUGGESTIONS",
    "TASK_LIST_TEXT",
    "TOKENS_PATH",
    "TOKEN_EXPIRED",
    "AgentMessage",
    "AgentverseEmulator",
    "AgentverseRequest",
    "Dropped",
    "Emitted",
    "Flow",
    "SessionRecord",
    "Step",
    "TokenStore",
    "Turn",
    "agent_error",
    "agent_info",
    "agent_message",
    "builtin_flows",
    "confirm_json",
    "date_json",
    "options_json",
    "render",
    "stop_message",
    "submit_kind",
    "task_list_json",
    "travel_flow",
]
