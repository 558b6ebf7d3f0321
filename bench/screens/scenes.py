"""The three scenes, played by a member against the real bot on the loopback emulators, each read back as a
`Scene`: a streamed aBLT reply past 2,000 characters, Agentverse's options as buttons, a Convai voice note
answered with a voice message."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.config.settings import load_settings
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.agentverse import AgentverseEmulator
from tests.emulators.convai import ConvaiEmulator, ConvaiReply, StarterScript
from tests.emulators.discord import VOICE_MESSAGE_FLAG, AttachmentSpec, DiscordEmulator, MessageRecord
from tests.support import audio_samples
from tests.support.harness import ABLT_KEY, BOT_TOKEN, CONVAI_KEY, BotProcess, bot_environment
from tests.support.journey import bot_posts, chat, say, thread_for, wait_for_post

from .capture import capture
from .scene import Scene

log = logging.getLogger(__name__)

WAIT_S = 20.0
QUIET_S = 1.5
"""A scene is read once its thread has had no new message, edit or component change for this long."""
BOT_NAME = "Provider Bridge"
TOKEN_INTERVAL_S = 0.01
ABLT_PROMPT = "I started freelancing this year. How do I handle my taxes?"
ABLT_REPLY = (Path(__file__).with_name("ablt_reply.md")).read_text(encoding="utf-8").strip()
"""aBLT's scripted answer (Markdown, about 2,600 characters, so the reply continues in a second message)."""
VOICE_NOTE_S = 3.0
VOICE_NOTE_WAVEFORM = bytes.fromhex("143c8cc8aa5a2878dcfab4461e0f5aa0d28c3c6ebee696502864aa783214")
"""What a member's Discord client would send with a 3 s note: one amplitude per 100 ms, rising and falling
with the syllables."""


@dataclass
class Stage:
    """The emulators and the running bot a scene is played on."""

    discord: DiscordEmulator
    ablt: AbltEmulator
    convai: ConvaiEmulator
    agentverse: AgentverseEmulator


@asynccontextmanager
async def stage(folder: Path) -> AsyncIterator[Stage]:
    """Every emulator a scene needs on 127.0.0.1 and the real bot (`bot.runner.serve`, as `python -m bot` runs
    it) connected to them, with its SQLite file in `folder`; all stopped on exit."""
    async with AsyncExitStack() as stack:
        discord = DiscordEmulator(token=BOT_TOKEN)
        await discord.start()
        stack.push_async_callback(discord.close)
        discord.core.world.users[discord.bot_user_id].username = BOT_NAME
        ablt = AbltEmulator(api_key=ABLT_KEY)
        await ablt.start()
        stack.push_async_callback(ablt.close)
        convai = await stack.enter_async_context(ConvaiEmulator(api_key=CONVAI_KEY))
        agentverse = await stack.enter_async_context(AgentverseEmulator())
        env = bot_environment(discord, ablt, folder / "bot.sqlite3", convai=convai, agentverse=agentverse)
        bot = BotProcess(load_settings(env, None), discord)
        await bot.start()
        stack.push_async_callback(bot.stop)
        yield Stage(discord, ablt, convai, agentverse)


async def settled(discord: DiscordEmulator, channel_id: int) -> None:
    """Wait until nothing in the channel has changed for QUIET_S seconds (at most WAIT_S)."""

    def state() -> list[tuple[int, int, str, int]]:
        return [(m.id, len(m.edits), repr(m.components), len(m.attachments)) for m in discord.messages(channel_id)]

    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    last, since = state(), loop.time()
    while loop.time() - since < QUIET_S:
        if loop.time() > deadline:
            raise TimeoutError(f"channel {channel_id} kept changing for {WAIT_S} s")
        await asyncio.sleep(0.1)
        if (now := state()) != last:
            last, since = now, loop.time()


async def streamed_reply(stage: Stage) -> Scene:
    """`/chat` with aBLT: the answer streams into a thread and continues in a second message past 2,000 chars."""
    discord = stage.discord
    stage.ablt.enqueue(Reply(text=ABLT_REPLY, token_interval_s=TOKEN_INTERVAL_S))
    thread = await thread_for(discord, await chat(discord, ABLT_PROMPT))

    def done() -> bool:
        posts = bot_posts(discord, thread.id)
        stops = [i for m in posts for i in m.custom_ids() if i.startswith("stop:")]
        return sum(len(m.content) for m in posts) >= len(ABLT_REPLY) - 10 and not stops

    await discord.wait_for(done, WAIT_S, "the whole reply, without its Stop button")
    await settled(discord, thread.id)
    return capture(discord, thread.id)


async def agentverse_buttons(stage: Stage) -> Scene:
    """An Agentverse objective: the task list as buttons (one chosen), a question answered, Confirm / Reject."""
    discord = stage.discord
    thread = await thread_for(discord, await chat(discord, "Find me a flight to Warsaw", provider="agentverse"))
    tasks = await offered(discord, thread.id, "Flights/Flights")
    clicked = await discord.click_button(tasks.id, custom_id(tasks, "Flights/Flights"))
    await clicked.wait_for_response(WAIT_S)
    question = await wait_for_post(discord, thread.id, "departure city", after=tasks.id)
    await say(discord, thread.id, "London")
    await offered(discord, thread.id, "Confirm", after=question.id)
    await settled(discord, thread.id)
    return capture(discord, thread.id)


async def convai_voice(stage: Stage) -> Scene:
    """A Convai thread: a member's voice note, what Convai heard, its answer as text and as a voice message."""
    discord, convai = stage.discord, stage.convai
    convai.enqueue(ConvaiReply(text="Hi, I'm Alpha! Ask me anything, or just send me a voice message."))
    convai.enqueue_starters(StarterScript(suggestions=["What's your name?", "Where are you from?", "Tell me a joke"]))
    thread = await thread_for(discord, await chat(discord, "Hello!", provider="convai"))
    await discord.wait_for(lambda: len(voice_posts(discord, thread.id)) == 1, WAIT_S, "the first voice message")
    await offered(discord, thread.id, "Tell me a joke")
    await settled(discord, thread.id)

    convai.enqueue(
        ConvaiReply(
            text="Sunny all week! Highs around 24 °C and a light westerly breeze: perfect for a walk by the river.",
            transcript="What's the weather like this week?",
        )
    )
    note = AttachmentSpec(
        "voice-message.ogg",
        audio_samples.voice_note_ogg(seconds=VOICE_NOTE_S),
        "audio/ogg",
        duration_secs=VOICE_NOTE_S,
        waveform=base64.b64encode(VOICE_NOTE_WAVEFORM).decode(),
    )
    await discord.send_user_message(thread.id, "", attachments=[note], flags=VOICE_MESSAGE_FLAG)
    await discord.wait_for(lambda: len(voice_posts(discord, thread.id)) == 2, WAIT_S, "the spoken answer")
    await settled(discord, thread.id)
    return capture(discord, thread.id)


def voice_posts(discord: DiscordEmulator, channel_id: int) -> list[MessageRecord]:
    return [m for m in bot_posts(discord, channel_id) if m.is_voice_message]


def labels(message: MessageRecord) -> list[str]:
    return [str(i.get("label")) for row in message.components for i in row.get("components", [])]


def custom_id(message: MessageRecord, label: str) -> str:
    return next(str(i["custom_id"]) for row in message.components for i in row["components"] if i.get("label") == label)


async def offered(discord: DiscordEmulator, channel_id: int, label: str, *, after: int = 0) -> MessageRecord:
    """The first bot message after `after` with a button labelled `label`."""

    def find() -> MessageRecord | None:
        return next((m for m in bot_posts(discord, channel_id) if m.id > after and label in labels(m)), None)

    await discord.wait_for(lambda: find() is not None, WAIT_S, f"a button {label!r}")
    found = find()
    assert found is not None
    return found


SCENES: dict[str, Callable[[Stage], Awaitable[Scene]]] = {
    "streamed-reply": streamed_reply,
    "agentverse-buttons": agentverse_buttons,
    "convai-voice": convai_voice,
}
"""Picture name (docs/images/<name>.png) -> the scene it shows."""


async def record(names: list[str], folder: Path) -> dict[str, Scene]:
    """Play the named scenes, in order, on one stage (one bot, one database) and return what each showed."""
    scenes: dict[str, Scene] = {}
    async with stage(folder) as played:
        for name in names:
            log.info("playing %s", name)
            scenes[name] = await SCENES[name](played)
    return scenes
