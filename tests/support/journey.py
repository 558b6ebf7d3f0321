"""What a member does and sees, expressed against the Discord emulator, shared by the e2e tests."""

from __future__ import annotations

from typing import Any

from bot.replies.splitting import join_chunks
from tests.emulators.discord import DiscordEmulator, InteractionRecord, MessageRecord, ThreadRecord

WAIT_S = 15.0


async def chat(
    discord: DiscordEmulator,
    prompt: str,
    *,
    channel_id: int | None = None,
    provider: str = "ablt",
    by: int | None = None,
    **options: Any,
) -> InteractionRecord:
    """Run `/chat provider:<provider> prompt:...` (as member `by`) and wait for the bot's acknowledgement."""
    interaction = await discord.run_slash_command(
        "chat", {"provider": provider, "prompt": prompt, **options}, channel_id=channel_id, user_id=by
    )
    await interaction.wait_for_response(WAIT_S)
    return interaction


async def thread_for(discord: DiscordEmulator, interaction: InteractionRecord) -> ThreadRecord:
    """The thread the bot opened from its reply to `interaction`."""

    def opened() -> ThreadRecord | None:
        message = interaction.original_message
        if message is None:
            return None
        return next((t for t in discord.threads if t.starter_message_id == message.id), None)

    await discord.wait_for(lambda: opened() is not None, WAIT_S, "the bot to open a thread")
    thread = opened()
    assert thread is not None
    return thread


def bot_posts(discord: DiscordEmulator, channel_id: int) -> list[MessageRecord]:
    return [m for m in discord.messages(channel_id) if m.author_id == discord.bot_user_id]


def offer_posts(discord: DiscordEmulator, channel_id: int) -> list[MessageRecord]:
    """The bot's messages carrying offered choices (not a reply's Stop or Retry button)."""
    return [m for m in bot_posts(discord, channel_id) if any(i.startswith("offer:") for i in m.custom_ids())]


def shown_reply(discord: DiscordEmulator, channel_id: int, *, after: int = 0) -> str:
    """The reply text a reader reassembles from the bot's messages after message id `after`."""
    return join_chunks([m.content for m in bot_posts(discord, channel_id) if m.id > after])


async def wait_for_reply(discord: DiscordEmulator, channel_id: int, text: str, *, after: int = 0) -> None:
    await discord.wait_for(
        lambda: shown_reply(discord, channel_id, after=after) == text, WAIT_S, f"the reply {text[:40]!r}"
    )


async def wait_for_post(discord: DiscordEmulator, channel_id: int, fragment: str, *, after: int = 0) -> MessageRecord:
    """The first bot message after `after` containing `fragment`."""

    def find() -> MessageRecord | None:
        return next((m for m in bot_posts(discord, channel_id) if m.id > after and fragment in m.content), None)

    await discord.wait_for(lambda: find() is not None, WAIT_S, f"a bot message containing {fragment!r}")
    found = find()
    assert found is not None
    return found


def last_message_id(discord: DiscordEmulator, channel_id: int) -> int:
    messages = discord.messages(channel_id)
    return messages[-1].id if messages else 0


async def command(
    discord: DiscordEmulator, name: str, channel_id: int, *, by: int | None = None, **options: Any
) -> InteractionRecord:
    """Run a slash command in a channel (as member `by`, default alice) and wait for the bot's acknowledgement."""
    interaction = await discord.run_slash_command(name, options, channel_id=channel_id, user_id=by)
    await interaction.wait_for_response(WAIT_S)
    return interaction


async def say(discord: DiscordEmulator, channel_id: int, text: str, *, by: int | None = None) -> int:
    """A member posts `text`; returns the id to read the bot's answer after."""
    mark = last_message_id(discord, channel_id)
    await discord.send_user_message(channel_id, text, user_id=by)
    return mark


def refusal(interaction: InteractionRecord) -> str:
    """The private answer the member got; fails the test if the answer was public."""
    message = interaction.original_message or (interaction.followups[0] if interaction.followups else None)
    assert message is not None and message.ephemeral, f"expected a private refusal, got {message}"
    return message.content
