"""Server controls: who may chat, use which provider, bind and end others' conversations; cooldowns; caps.

Every path runs through the real bot and the Discord emulator, with members whose roles carry real
permissions, so what the bot decides comes from what Discord would tell it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from bot.core.gate import BIND_REFUSED, CHAT_REFUSED, MANAGE_REFUSED
from cogs.server_admin import MANAGERS_ONLY
from tests.emulators.ablt import AbltEmulator, Reply
from tests.emulators.convai import ConvaiEmulator, StarterScript
from tests.emulators.discord import DiscordEmulator
from tests.emulators.magicai import MagicAIEmulator
from tests.support.harness import BotProcess
from tests.support.journey import (
    bot_posts,
    chat,
    command,
    offer_posts,
    refusal,
    say,
    thread_for,
    wait_for_post,
    wait_for_reply,
)

BOTH_STORES = True  # every journey here runs on SQLite and on PostgreSQL (tests/support/fixtures.py)

ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
MANAGE_THREADS = 1 << 34
MEMBER = ((1 << 51) - 1) & ~ADMINISTRATOR & ~MANAGE_GUILD & ~MANAGE_THREADS


@dataclass(frozen=True)
class Server:
    """A server with a manager, a thread moderator, a patron and an ordinary member."""

    discord: DiscordEmulator
    bot: BotProcess
    manager: int
    moderator: int
    patron: int
    member: int
    patrons: int
    """The Patrons role's id."""

    @property
    def channel(self) -> int:
        return self.discord.channel_id

    async def as_manager(self, name: str, **options: object) -> str:
        """Run a command as the manager; the private answer."""
        done = await command(self.discord, name, self.channel, by=self.manager, **options)
        return refusal(done)


def build_server(discord: DiscordEmulator) -> dict[str, int]:
    discord.set_everyone_permissions(MEMBER)
    staff, mods, patrons = discord.add_role("Staff"), discord.add_role("Mods"), discord.add_role("Patrons")
    discord.set_role_permissions(staff, MEMBER | MANAGE_GUILD)
    discord.set_role_permissions(mods, MEMBER | MANAGE_THREADS)
    discord.set_role_permissions(patrons, MEMBER)
    return {
        "manager": discord.add_member("mia", roles=[staff]),
        "moderator": discord.add_member("mo", roles=[mods]),
        "patron": discord.add_member("pat", roles=[patrons]),
        "member": discord.add_member("bob"),
        "patrons": patrons,
    }


@pytest.fixture
async def server(discord_emulator: DiscordEmulator, make_bot: Callable[..., BotProcess]) -> AsyncIterator[Server]:
    people = build_server(discord_emulator)  # before the bot connects, so its cache has the roles
    bot = make_bot(PROVIDER_TIMEOUT_S="2")
    await bot.start()
    yield Server(discord_emulator, bot, **people)


async def started(server: Server, by: int, prompt: str = "hello", **options: object) -> int:
    """`/chat` as `by`; the thread it opened, once the conversation's first reply began there."""
    thread = (await thread_for(server.discord, await chat(server.discord, prompt, by=by, **options))).id
    await server.discord.wait_for(lambda: bool(bot_posts(server.discord, thread)), 15, "the first reply")
    return thread


# ---- defaults -------------------------------------------------------------------------------------


async def test_by_default_everyone_chats_and_only_managers_change_the_rules(server: Server, ablt: AbltEmulator) -> None:
    ablt.enqueue(Reply(text="Hi Bob."))
    thread = await started(server, server.member)
    await wait_for_reply(server.discord, thread, "Hi Bob.")

    for name, options in (
        ("access allow", {"what": "chat", "who": server.patrons}),
        ("access clear", {"what": "bind"}),
        ("settings", {"cooldown": 5}),
    ):
        done = await command(server.discord, name, server.channel, by=server.member, **options)
        assert refusal(done) == MANAGERS_ONLY
    settings = await server.as_manager("settings")
    assert "Talk to the AI (start conversations, send messages): everyone (default)" in settings
    assert "Bind channels to a provider: server managers (default)" in settings
    assert "Cooldown: none (bot default)" in settings and "Conversations at once: no limit (bot default)" in settings

    registered = {c["name"]: c for c in server.discord.commands}
    assert str(registered["access"]["default_member_permissions"]) == str(MANAGE_GUILD)
    assert str(registered["settings"]["default_member_permissions"]) == str(MANAGE_GUILD)
    assert registered["bind"]["default_member_permissions"] is None  # members allowed by /access must see it


# ---- who may chat ---------------------------------------------------------------------------------


async def test_a_chat_allow_list_by_role_refuses_everyone_else_in_commands_messages_and_buttons(
    server: Server, ablt: AbltEmulator, convai: ConvaiEmulator
) -> None:
    changed = await server.as_manager("access allow", what="chat", who=server.patrons)
    assert f"<@&{server.patrons}>" in changed and "Added." in changed

    refused = await chat(server.discord, "hello", by=server.member)
    assert refusal(refused) == CHAT_REFUSED
    assert not server.discord.threads and not ablt.requests

    ablt.enqueue(Reply(text="Hello patron."))
    thread = await started(server, server.patron)
    await wait_for_reply(server.discord, thread, "Hello patron.")
    said = await server.discord.send_user_message(thread, "can I join in?", user_id=server.member)
    answer = await wait_for_post(server.discord, thread, "only some members", after=said.id)
    assert answer.message_reference is not None and answer.message_reference["message_id"] == str(said.id)

    convai.enqueue_starters(StarterScript(suggestions=["Who are you?"]))
    voiced = await started(server, server.patron, provider="convai")
    await server.discord.wait_for(lambda: offer_posts(server.discord, voiced), 15)
    offer = offer_posts(server.discord, voiced)[0]
    click = await server.discord.click_button(offer.id, offer.custom_ids()[0], user_id=server.member)
    await click.wait_for_response(10)
    assert refusal(click) == CHAT_REFUSED
    assert not any(r.fields.get("userText") == "Who are you?" for r in convai.requests)

    await command(server.discord, "bind", server.channel, by=server.manager, provider="ablt")
    said = await server.discord.send_user_message(server.channel, "bound channel?", user_id=server.member)
    await wait_for_post(server.discord, server.channel, "only some members", after=said.id)
    assert len(ablt.requests) == 1  # neither of bob's messages reached aBLT

    server.discord.set_member_roles(server.member, [server.patrons])  # a moderator gives bob the role
    ablt.enqueue(Reply(text="Welcome, Bob."))
    await wait_for_reply(server.discord, await started(server, server.member), "Welcome, Bob.")
    ablt.enqueue(Reply(text="Hello manager."))
    await wait_for_reply(server.discord, await started(server, server.manager), "Hello manager.")  # always passes


async def test_a_member_allowed_by_id_may_chat_until_removed_and_clear_restores_everyone(
    server: Server, ablt: AbltEmulator
) -> None:
    await server.as_manager("access allow", what="chat", who=server.patrons)
    added = await server.as_manager("access allow", what="chat", who=server.member)
    assert f"<@{server.member}>" in added

    ablt.enqueue(Reply(text="ok"), Reply(text="ok"))
    await started(server, server.member)
    removed = await server.as_manager("access remove", what="chat", who=server.member)
    assert "Removed." in removed and f"<@{server.member}>" not in removed
    assert refusal(await chat(server.discord, "again", by=server.member)) == CHAT_REFUSED

    cleared = await server.as_manager("access clear", what="chat")
    assert "everyone (default)" in cleared
    await started(server, server.member)
    again = await server.as_manager("access remove", what="chat", who=server.member)
    assert "was not on that list" in again


async def test_a_provider_can_be_kept_for_some_roles(
    server: Server, ablt: AbltEmulator, magicai: MagicAIEmulator
) -> None:
    await server.as_manager("access allow", what="use:magicai", who=server.patrons)

    refused = refusal(await chat(server.discord, "docs?", provider="magicai", by=server.member))
    assert "**Magic AI** is for some members only" in refused
    assert not magicai.requests

    ablt.enqueue(Reply(text="aBLT is open to all."))
    await wait_for_reply(server.discord, await started(server, server.member), "aBLT is open to all.")
    thread = await started(server, server.patron, provider="magicai")
    await wait_for_post(server.discord, thread, "Magic AI answer")


# ---- binding and ending ---------------------------------------------------------------------------


async def test_bind_is_for_managers_and_members_they_allow(server: Server) -> None:
    refused = await command(server.discord, "bind", server.channel, by=server.member, provider="ablt")
    assert refusal(refused) == BIND_REFUSED

    await server.as_manager("access allow", what="bind", who=server.member)
    bound = await command(server.discord, "bind", server.channel, by=server.member, provider="ablt")
    assert not bound.ephemeral and "gave this channel to" in bound.original_message.content
    unbound = await command(server.discord, "unbind", server.channel, by=server.member)
    assert not unbound.ephemeral


async def test_only_the_starter_or_a_moderator_ends_or_resets_a_conversation(
    server: Server, ablt: AbltEmulator
) -> None:
    ablt.enqueue(*(Reply(text="ok") for _ in range(3)))
    thread = await started(server, server.member)
    for name in ("end", "reset"):
        assert refusal(await command(server.discord, name, thread, by=server.patron)) == MANAGE_REFUSED
    reset = await command(server.discord, "reset", thread, by=server.member)
    assert not reset.ephemeral

    await server.as_manager("access allow", what="end_others", who=server.patrons)
    ended = await command(server.discord, "end", thread, by=server.patron)
    assert not ended.ephemeral and "ended by Pat" in ended.original_message.content

    second = await started(server, server.member)
    by_moderator = await command(server.discord, "end", second, by=server.moderator)  # Manage Threads
    assert not by_moderator.ephemeral


# ---- cooldown and cap -----------------------------------------------------------------------------


async def test_the_cooldown_holds_back_each_member_but_not_others_or_managers(
    server: Server, ablt: AbltEmulator
) -> None:
    assert "Changed the cooldown" in await server.as_manager("settings", cooldown=30)
    ablt.enqueue(*(Reply(text="ok") for _ in range(4)))
    thread = await started(server, server.member)
    await wait_for_reply(server.discord, thread, "ok")

    again = refusal(await chat(server.discord, "another", by=server.member))
    assert "one message every 30 s" in again and "Try again in " in again
    mark = await say(server.discord, thread, "and another thing", by=server.member)
    await wait_for_post(server.discord, thread, "Slow down", after=mark)
    others = [
        await started(server, server.patron),  # others are not held back
        await started(server, server.manager),
        await started(server, server.manager),  # managers are exempt
    ]
    for other in others:
        await wait_for_reply(server.discord, other, "ok")
    assert len(ablt.requests) == 4
    assert all(m["content"] != "and another thing" for r in ablt.requests for m in r.body["messages"])


async def test_the_cap_refuses_new_conversations_until_one_ends(server: Server, ablt: AbltEmulator) -> None:
    await server.as_manager("settings", max_conversations=1)
    ablt.enqueue(*(Reply(text="ok") for _ in range(3)))
    first = await started(server, server.member)
    await wait_for_reply(server.discord, first, "ok")

    full = refusal(await chat(server.discord, "me too", by=server.patron))
    assert "already has 1 conversation going, the most it allows" in full
    await command(server.discord, "bind", server.channel, by=server.manager, provider="ablt")
    mark = await say(server.discord, server.channel, "a bound channel counts too", by=server.patron)
    await wait_for_post(server.discord, server.channel, "the most it allows", after=mark)

    await command(server.discord, "end", first, by=server.member)
    second = await started(server, server.patron)
    await wait_for_reply(server.discord, second, "ok")


async def test_a_quiet_conversation_stops_counting_and_waking_it_needs_a_free_place(
    discord_emulator: DiscordEmulator, make_bot: Callable[..., BotProcess], ablt: AbltEmulator
) -> None:
    people = build_server(discord_emulator)
    bot = make_bot(CONVERSATION_IDLE_S="0.5", DEFAULT_MAX_CONVERSATIONS="1")
    await bot.start()
    server = Server(discord_emulator, bot, **people)
    assert "at most 1 (one quiet for" in await server.as_manager("settings")
    ablt.enqueue(*(Reply(text="ok") for _ in range(2)))
    first = await started(server, server.member)
    await wait_for_reply(server.discord, first, "ok")
    await asyncio.sleep(0.6)

    second = await started(server, server.patron)  # the first has gone quiet
    await wait_for_reply(server.discord, second, "ok")
    mark = await say(server.discord, first, "anyone there?", by=server.member)
    await wait_for_post(server.discord, first, "already has 1 conversation going", after=mark)
    assert len(ablt.requests) == 2


# ---- default provider and persistence ------------------------------------------------------------


async def test_the_server_default_provider_answers_chat_without_a_provider(
    server: Server, magicai: MagicAIEmulator, ablt: AbltEmulator
) -> None:
    asked = await server.discord.run_slash_command("chat", {"prompt": "hi"}, user_id=server.member)
    await asked.wait_for_response(10)
    assert "Pick a provider" in refusal(asked)

    assert "Default provider: Magic AI" in await server.as_manager("settings", default_provider="magicai")
    by_default = await server.discord.run_slash_command("chat", {"prompt": "docs?"}, user_id=server.member)
    await by_default.wait_for_response(10)
    await wait_for_post(server.discord, (await thread_for(server.discord, by_default)).id, "Magic AI answer")

    await server.as_manager("settings", default_provider="-")
    cleared = await server.discord.run_slash_command("chat", {"prompt": "hi"}, user_id=server.member)
    await cleared.wait_for_response(10)
    assert "Pick a provider" in refusal(cleared)


async def test_rules_and_limits_survive_a_restart(
    server: Server, make_bot: Callable[..., BotProcess], ablt: AbltEmulator
) -> None:
    await server.as_manager("access allow", what="chat", who=server.patrons)
    await server.as_manager("settings", cooldown=90, max_conversations=7)
    await server.bot.stop()

    again = make_bot()
    await again.start()
    assert refusal(await chat(server.discord, "hi", by=server.member)) == CHAT_REFUSED
    shown = await server.as_manager("settings")
    assert f"server managers, and <@&{server.patrons}>" in shown
    assert "Cooldown: 90 s" in shown and "at most 7" in shown and "(bot default)" not in shown


async def test_two_members_racing_for_the_last_place_get_one_conversation(server: Server, ablt: AbltEmulator) -> None:
    await server.as_manager("settings", max_conversations=1)
    ablt.enqueue(Reply(text="ok"))
    first = await server.discord.run_slash_command("chat", {"prompt": "a", "provider": "ablt"}, user_id=server.member)
    second = await server.discord.run_slash_command("chat", {"prompt": "b", "provider": "ablt"}, user_id=server.patron)
    await first.wait_for_response(10)
    await second.wait_for_response(10)

    outcomes = sorted(i.ephemeral for i in (first, second))
    assert outcomes == [False, True]  # one opened, one was told the server is full
    await server.discord.wait_for(lambda: len(server.discord.threads) == 1, 10, "one thread")
    winner = first if not first.ephemeral else second
    await wait_for_reply(server.discord, (await thread_for(server.discord, winner)).id, "ok")
    assert len(server.discord.threads) == 1 and len(ablt.requests) == 1


async def test_long_allow_lists_are_shown_within_discords_message_limit(
    discord_emulator: DiscordEmulator, make_bot: Callable[..., BotProcess]
) -> None:
    people = build_server(discord_emulator)
    roles = [discord_emulator.add_role(f"Tier {n}") for n in range(45)]
    bot = make_bot()
    await bot.start()
    server = Server(discord_emulator, bot, **people)
    for ability in ("chat", "bind", "end_others"):
        for role in roles:
            answer = await server.as_manager("access allow", what=ability, who=role)
    assert answer.endswith(" and 5 more") and len(answer) <= 2000

    shown = await command(server.discord, "settings", server.channel, by=server.manager)
    await server.discord.wait_for(lambda: "End or reset" in shown.messages[-1].content, 10, "the last list")
    parts = [m.content for m in shown.messages]
    assert len(parts) > 1 and all(m.ephemeral for m in shown.messages)
    assert parts[0].startswith("**AI settings for this server**") and all(len(p) <= 2000 for p in parts)
    assert sum(p.count("and 5 more") for p in parts) == 3
