"""Fetch.ai Agentverse AI Engine: an objective worked through in turns of polled agent messages.

A turn starts with what the member did (a new objective, an answer, a pick from an offer) and follows
the engine's messages until it needs the member again (options, a confirmation, a question), finishes,
fails, or stays silent past the idle limit. Steps the reference script takes on its own are taken here
too: a subtask list (UUID keys) picks its first entry, and a question repeated right after being
answered gets the same answer again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from bot.config.provider_settings import AgentverseSettings
from bot.providers.agentverse.polling import IdleTimeout, PollScheduler
from bot.providers.agentverse.wire import UNREADABLE, AgentMessage, AgentverseClient
from bot.providers.base import Event, Notice, Offer, Provider, Said, SessionEnded, StateSaved, Turn
from bot.providers.errors import ProviderError

log = logging.getLogger(__name__)

COMPLETED = "I have completed your task!"
SEEN_IDS_KEPT = 200
OWED_WAIT_S = 20.0
"""After showing an answer the engine owed a stopped turn, how long its own answer is waited for."""
CONFIRM, REJECT = "Confirm", "Reject"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-4][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$", re.IGNORECASE)


class AgentverseProvider(Provider):
    key = "agentverse"
    display_name = "Agentverse"
    works_in_background = True

    def __init__(self, settings: AgentverseSettings, client: AgentverseClient, scheduler: PollScheduler) -> None:
        self._settings = settings
        self._client = client
        self._scheduler = scheduler

    def start_state(self, options: Mapping[str, str | None]) -> dict[str, Any]:
        return {"session_id": None}

    def usual_wait_s(self) -> float | None:
        """The poll plan's last planned poll: by then nearly every answer was seen (`plan_polls`)."""
        plan = self._scheduler.plan
        return plan[-1] if plan else None

    def reset_state(self, state: Mapping[str, Any]) -> dict[str, Any]:
        return {"session_id": None}

    def describe(self, state: Mapping[str, Any]) -> str:
        return f"Agentverse · {self._settings.model}"

    async def close_session(self, state: Mapping[str, Any]) -> None:
        if state.get("session_id") and not state.get("finished"):
            await self._client.submit(str(state["session_id"]), {"type": "stop"})

    def state_after_stop(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """A stopped turn is not followed again after a restart; the engine's session stays for the next message,
        which shows the answer the engine still owes before following it to its own (`owed`; if nothing more comes
        within `OWED_WAIT_S` the count was off, say a restart had already shown it, and the turn ends)."""
        return {"following": False, "owed": int(state.get("owed") or 0) + 1}

    def details(self, state: Mapping[str, Any]) -> list[tuple[str, str]]:
        status = "finished" if state.get("finished") else ("working" if state.get("following") else "waiting for you")
        return [
            ("Model", self._settings.model),
            ("Engine session", str(state.get("session_id") or "not started")),
            ("Status", status),
        ]

    async def reply(self, turn: Turn) -> AsyncIterator[Event]:
        state = dict(turn.state)
        # "following" is saved before each submit, so a stop right after it still resumes on restart.
        if not state.get("session_id") or state.get("finished"):
            session_id = await self._client.create_session()
            state = {"session_id": session_id, "last_message_id": None, "seen": [], "finished": False, "offer": None}
            yield StateSaved({**state, "following": True})
            await self._submit(state, {"type": "start", "objective": turn.text, "context": _context(turn)})
        elif not turn.resume:
            yield StateSaved({"following": True})
            await self._submit(state, self._answer_for(turn, state))
            state.update(last_response=turn.text, offer=None)
            yield StateSaved({"last_response": turn.text, "offer": None})
        async for event in self._follow(state):
            yield event

    def _answer_for(self, turn: Turn, state: Mapping[str, Any]) -> dict[str, Any]:
        """What a member's action means to the engine (the reference script's replies)."""
        offer = state.get("offer") if isinstance(state.get("offer"), dict) else None
        if turn.pick is None or offer is None:
            return {"type": "user_message", "user_message": turn.text}
        if offer.get("kind") == "confirm":
            return {"type": "user_message", "user_message": "confirm" if turn.pick.index == 0 else turn.text}
        key = offer["keys"][turn.pick.index]
        if offer.get("kind") == "task_list":
            return {"type": "user_json", "user_json": {"type": "task_list", "selection": [key]}}
        return {"type": "user_message", "user_message": str(key)}

    async def _submit(self, state: dict[str, Any], payload: Mapping[str, Any]) -> None:
        await self._client.submit(str(state["session_id"]), {**payload, "message_id": str(uuid.uuid4())})

    async def _follow(self, state: dict[str, Any]) -> AsyncIterator[Event]:
        """Engine messages until the member is needed again, the session ends, or the engine goes quiet.

        A batch is read whole before its events go out; unless it needs the member, the wait for the next
        one starts first, so the engine is polled (from right after any submit the batch made) while the
        batch is being shown, rather than only once Discord took it all."""
        waiting = self._next_batch(state)
        owed_until: float | None = None  # after an owed answer: how long its own answer is waited for
        try:
            while True:
                try:
                    async with asyncio.timeout_at(owed_until):
                        batch = await asyncio.shield(waiting)
                except TimeoutError:  # nothing more after an owed answer: it was this turn's (counted twice)
                    yield StateSaved({"following": False, "owed": 0})
                    return
                except IdleTimeout:
                    yield StateSaved({"following": False})
                    yield Notice(
                        f"The engine has been quiet for {self._settings.idle_limit_s / 60:g} minutes, so I stopped"
                        " waiting. Send a message here to check on it again."
                    )
                    return
                yield StateSaved({"last_message_id": state["last_message_id"], "seen": state["seen"]})
                shown: list[Event] = []
                member_needed = False
                for message in batch:  # the whole batch: later messages still count after one that asks the member
                    events, needs_member = await self._interpret(message, state)
                    member_needed = member_needed or needs_member
                    shown.extend(events)
                if not member_needed:
                    waiting = self._next_batch(state)
                for event in shown:
                    yield event
                if member_needed and state.get("owed"):  # the answer to a turn a member stopped: shown, then on
                    state["owed"] -= 1
                    yield StateSaved({"owed": state["owed"]})
                    waiting = self._next_batch(state)
                    owed_until = asyncio.get_running_loop().time() + OWED_WAIT_S
                elif member_needed:
                    yield StateSaved({"following": False})
                    return
        finally:
            _drop(waiting)

    def _next_batch(self, state: dict[str, Any]) -> asyncio.Task[list[AgentMessage]]:
        """The scheduler's wait for the next fresh messages, running from now."""
        return asyncio.create_task(
            self._scheduler.wait(
                lambda: self._fresh(state), idle_limit_s=self._settings.idle_limit_s, made_at=_first_made_at
            ),
            name="agentverse-wait",
        )

    async def _fresh(self, state: dict[str, Any]) -> list[AgentMessage]:
        """Messages not seen before: the engine may deliver one twice (in one poll, in two, or again after a
        restart; both SDKs dedupe by `message_id`), so ids are remembered in the session state."""
        messages = await self._client.messages(str(state["session_id"]), state.get("last_message_id"))
        seen: list[str] = list(state.get("seen") or [])
        fresh: dict[str, AgentMessage] = {}
        for message in messages:
            if message.id not in seen:
                fresh.setdefault(message.id, message)
        real = [m for m in messages if m.type != UNREADABLE]
        if real:
            state["last_message_id"] = real[-1].id
        state["seen"] = (seen + list(fresh))[-SEEN_IDS_KEPT:]
        return list(fresh.values())

    async def _interpret(self, message: AgentMessage, state: dict[str, Any]) -> tuple[list[Event], bool]:
        """The events one engine message means, and whether the turn now waits for the member."""
        body = message.body
        if message.type == "agent_json" and isinstance(body.get("agent_json"), dict):
            return await self._agent_json(body["agent_json"], state)
        if message.type == "agent_message":
            return await self._question(str(body.get("agent_message") or ""), state)
        if message.type == "agent_info":
            info = str(body.get("agent_info") or "")
            if COMPLETED in info:
                return [Said(info), *await self._finish(state, "The agent completed your task.")], True
            return [Said(info)], False
        if message.type == "agent_error":
            said = Said(f"⚠️ {body.get('agent_error') or 'The agent hit an error.'}")
            return [said, *await self._finish(state, "The session stopped after the agent's error.")], True
        if message.type == "stop":
            return await self._finish(state, "The agent ended the session.", stop=False), True
        if message.type == UNREADABLE:
            return [Notice("The engine sent a message the bot could not read; skipped it.")], False
        log.warning("unknown Agentverse message type %.80r", message.type)
        return [
            Notice(f"The engine sent a kind of message the bot does not know ({message.type[:40]}); skipped.")
        ], False

    async def _agent_json(self, agent: Mapping[str, Any], state: dict[str, Any]) -> tuple[list[Event], bool]:
        text = str(agent.get("text") or "")
        listed = agent.get("options")
        options = [o for o in listed if isinstance(o, dict) and "key" in o] if isinstance(listed, list) else []
        context = agent.get("context_json") if isinstance(agent.get("context_json"), dict) else None
        if options and _UUID.match(str(options[0]["key"])):
            first = options[0]
            await self._submit(
                state, {"type": "user_json", "user_json": {"type": "options", "selection": [first["key"]]}}
            )
            return [Notice(f"Chose the subtask automatically: {first.get('value', first['key'])}")], False
        if options:
            kind = "task_list" if agent.get("type") == "task_list" else "options"
            labels = [str(o.get("value", o["key"])) for o in options]
            return self._offer(state, text or "Please choose:", labels, kind, keys=[o["key"] for o in options]), True
        if context is not None and isinstance(context.get("args"), dict):
            args = "\n".join(f"• **{k}**: {v}" for k, v in context["args"].items())
            prompt = f"{text or 'Please confirm:'}\n{args}"
            return self._offer(state, prompt, [CONFIRM, REJECT], "confirm", reason_for=(1,)), True
        return await self._question(text, state)

    def _offer(
        self,
        state: dict[str, Any],
        prompt: str,
        labels: list[str],
        kind: str,
        *,
        keys: list[Any] | None = None,
        reason_for: tuple[int, ...] = (),
    ) -> list[Event]:
        """Choices for the member; saved in the state so a click is understood even after a restart."""
        token = uuid.uuid4().hex[:8]
        offer = {"token": token, "labels": labels, "kind": kind, "keys": keys or [], "reason_for": list(reason_for)}
        state.update(offer=offer, last_question=_normalize(prompt.split("?")[0]))
        return [
            StateSaved({"offer": offer, "last_question": state["last_question"]}),
            Offer(token=token, prompt=prompt, labels=tuple(labels), reason_for=reason_for),
        ]

    async def _question(self, text: str, state: dict[str, Any]) -> tuple[list[Event], bool]:
        """Shown for the member to answer, unless it repeats the question they just answered."""
        asked = _normalize(text.split("?")[0])
        if asked and asked == state.get("last_question") and state.get("last_response"):
            answer = str(state["last_response"])
            await self._submit(state, {"type": "user_message", "user_message": answer})
            state["last_question"] = ""
            return [Notice(f"The agent asked again; answered with your last reply: {answer[:200]}")], False
        state["last_question"] = asked
        return [Said(text), StateSaved({"last_question": asked, "offer": None})], True

    async def _finish(self, state: dict[str, Any], reason: str, *, stop: bool = True) -> list[Event]:
        if stop:
            try:
                await self._submit(state, {"type": "stop"})
            except ProviderError as exc:  # the session is over either way
                log.warning("could not stop Agentverse session %s: %s", state.get("session_id"), exc)
        state["finished"] = True
        ending = f"{reason} Send a new objective here to start again."
        return [StateSaved({"finished": True, "offer": None}), SessionEnded(ending)]


def _drop(task: asyncio.Task[Any]) -> None:
    """Stop a wait nobody will read (the turn ended or was stopped), without an unread-exception warning."""
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()


def _normalize(question: str) -> str:
    return re.sub(r"[^\w\s]", "", question.lower()).strip()


def _context(turn: Turn) -> str:
    return f"User full Name: {turn.user_name}\nUser: Discord member {turn.user_name} (id {turn.user_id})\n"


def _first_made_at(messages: list[AgentMessage]) -> float | None:
    """When the engine made the first of a poll's fresh messages (epoch seconds), if it says."""
    return messages[0].made_at if messages else None
