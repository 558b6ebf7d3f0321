"""What a member meets when Discord forbids them something: buttons clicked as them, the bot's public posts, the
failure line carrying Retry."""

from __future__ import annotations

from tests.emulators.discord import (
    DiscordEmulator,
    InteractionRecord,
    MessageRecord,
)
from tests.support.journey import (
    WAIT_S,
    bot_posts,
)


async def click(discord: DiscordEmulator, message: MessageRecord, prefix: str, *, by: int) -> InteractionRecord:
    custom_id = next(i for i in message.custom_ids() if i.startswith(prefix))
    done = await discord.click_button(message.id, custom_id, user_id=by)
    await done.wait_for_response(WAIT_S)
    return done


def public_posts(discord: DiscordEmulator, channel_id: int) -> list[MessageRecord]:
    """What the bot posted there for everyone (its private answers are stored there too)."""
    return [m for m in bot_posts(discord, channel_id) if not m.ephemeral]


async def failure_line(discord: DiscordEmulator, channel_id: int) -> MessageRecord:
    """The bot's failure line carrying Retry."""

    def found() -> MessageRecord | None:
        return next(
            (m for m in bot_posts(discord, channel_id) if any(i.startswith("retry:") for i in m.custom_ids())), None
        )

    await discord.wait_for(lambda: found() is not None, WAIT_S, "a failure line with Retry")
    line = found()
    assert line is not None
    return line
