"""The scenes, played by members against the real bot on the loopback emulators, each read back as a `Scene`: a
streamed aBLT reply past 2,000 characters, Agentverse's options as buttons, choices too long for a button as
Components V2 sections, a Convai voice note answered with a voice message, and `/chat` through a member's own
install in a server the bot is not in."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.config.settings import load_settings
from cogs.common.places import REPLY_BUTTON_ID
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.agentverse import AgentverseEmulator, travel_flow
from tests.emulators.convai import ConvaiEmulator, ConvaiReply, StarterScript
from tests.emulators.discord import (
    COMPONENTS_V2_FLAG,
    VOICE_MESSAGE_FLAG,
    AttachmentSpec,
    DiscordEmulator,
    MessageRecord,
)
from tests.support import audio_samples
from tests.support.harness import ABLT_KEY, BOT_TOKEN, CONVAI_KEY, BotProcess, bot_environment
from tests.support.journey import bot_posts, chat, say, thread_for, wait_for_post

from .capture import capture, capture_channel
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
LONG_TASK = "Flights/Find the cheapest direct flight from the nearest airport to any city in Europe next weekend"
"""A task label past a button's 80 characters (as in tests/cogs/test_rich_replies.py)."""
ELSEWHERE = "Quiz night"
"""The server the bot is not in, where Bob uses his own install of the app."""
QUIZ_QUESTION = "Still arguing about last night's tiebreaker: why is the sky blue, not violet? 🤔"
SKY_PROMPT = "Why is the sky blue and not violet, if violet scatters more?"
SKY_ANSWER = (
    "**Short version:** the air does scatter violet even more than blue, but there is less of it to see, "
    "and our eyes barely notice it.\n\n"
    "- **Rayleigh scattering** bounces short wavelengths around the sky most: violet first, then blue.\n"
    "- **Sunlight holds less violet than blue** to begin with, and some of it is absorbed high up.\n"
    "- **Our eyes** are far less sensitive to violet; the mix of scattered colours reaching them reads as "
    "*sky blue*.\n\n"
    'So the tiebreaker goes to whoever said "both, but blue wins".'
)


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
        discord.support_user_installs()  # before the bot registers its commands: for both installation contexts
        env = bot_environment(
            discord, ablt, folder / "bot.sqlite3", convai=convai, agentverse=agentverse, USER_INSTALLS="on"
        )
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


async def long_choices(stage: Stage) -> Scene:
    """An Agentverse objective whose first task is too long for a button: the choices as sections, each with its
    whole text beside its own button; one chosen (the buttons greyed, who chose what under them)."""
    discord, agentverse = stage.discord, stage.agentverse
    before = agentverse.default_flow
    agentverse.use_flow(travel_flow("long", tasks=(LONG_TASK, "Hotels/Hotels")))
    try:
        thread = await thread_for(discord, await chat(discord, "Plan a weekend away", provider="agentverse"))

        def sectioned() -> MessageRecord | None:
            return next((m for m in bot_posts(discord, thread.id) if m.flags & COMPONENTS_V2_FLAG), None)

        await discord.wait_for(lambda: sectioned() is not None, WAIT_S, "the choices as sections")
        offer = sectioned()
        assert offer is not None
        clicked = await discord.click_button(offer.id, next(i for i in offer.custom_ids() if i.endswith(":0")))
        await clicked.wait_for_response(WAIT_S)
        await wait_for_post(discord, thread.id, "departure city", after=offer.id)
        await settled(discord, thread.id)
    finally:
        agentverse.default_flow = before
    return capture(discord, thread.id)


async def user_install_reply(stage: Stage) -> Scene:
    """Bob installed the app to his own account; in a server the bot is not in he runs `/chat`: the answer
    streams into the command's own reply, with 💬 Reply under it once finished."""
    discord = stage.discord
    bob, carol = discord.add_user("bob"), discord.add_user("carol")
    discord.install_app(bob)
    server = discord.add_outside_guild(ELSEWHERE)
    for member in (bob, carol):
        discord.join_guild(member, server)
    channel = discord.general_channel(server)
    await discord.send_user_message(channel, QUIZ_QUESTION, user_id=carol)
    stage.ablt.enqueue(Reply(text=SKY_ANSWER, token_interval_s=TOKEN_INTERVAL_S))
    run = await discord.run_slash_command(
        "chat", {"provider": "ablt", "prompt": SKY_PROMPT}, channel_id=channel, user_id=bob
    )
    await run.wait_for_response(WAIT_S)

    def finished() -> bool:
        message = run.original_message
        return message is not None and REPLY_BUTTON_ID.format(owner_id=bob) in message.custom_ids()

    await discord.wait_for(finished, WAIT_S, "the answer, with its Reply button")
    await settled(discord, channel)
    return capture_channel(discord, channel)


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
    "long-choices": long_choices,
    "convai-voice": convai_voice,
    "user-install-reply": user_install_reply,
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
