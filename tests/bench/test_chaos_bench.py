"""bench/chaos's judge, through the real bot: what the bench counts as answered, told why, lost or posted twice,
and what it finds in a log, on turns whose outcome is known (the chaos run itself is `python -m bench.chaos`)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import aiohttp

from bench.chaos.invariants import Findings, find_duplicates, judge_turns, search_logs
from bench.chaos.members import Crowd, Member
from bench.chaos.outcomes import Turn
from bench.chaos.script import ProviderScript
from tests.emulators.ablt import AbltEmulator
from tests.emulators.discord import DiscordEmulator
from tests.support.emulator_clients import rest
from tests.support.harness import BOT_TOKEN, BotProcess
from tests.support.journey import bot_posts

WAIT_S = 20.0


def talker(discord: DiscordEmulator, script: ProviderScript) -> Member:
    """A member who never presses Stop or Retry and hardly pauses."""
    crowd = Crowd(discord, script, random.Random(2))
    crowd.bot_up.set()
    member = Member(crowd, "member01", discord.add_member("member01"), discord.channel_id, "ablt", seed=3)
    member.stop_chance = member.retry_chance = 0.0
    member.think_s = (0.0, 0.05)
    return member


async def test_answers_failure_lines_ignored_messages_and_repeated_replies_are_counted_as_members_see_them(
    running_bot: BotProcess, discord_emulator: DiscordEmulator, ablt: AbltEmulator
) -> None:
    script = ProviderScript(random.Random(1), 2.0, {"aBLT": {"ok": 1}})
    script.token_interval_s = (0.0, 0.0)
    ablt.script_with(script.ablt)
    member = talker(discord_emulator, script)
    deadline = time.monotonic() + WAIT_S
    await member.run(deadline, deadline, turns=2)  # /chat, then one message: both answered
    script.weights = {"aBLT": {"500": 1}}
    await member.say(deadline)  # a ⚠️ line
    assert member.thread_id is not None
    thread = member.thread_id
    helper = discord_emulator.add_member("helper", bot=True)  # the bot ignores other bots: nobody answers this
    ignored = await discord_emulator.send_user_message(thread, f"Question {member.crowd.canary()}", user_id=helper)
    turns = member.crowd.turns
    turns.append(Turn(4, "helper", helper, "ablt", ignored.content.split()[-1], time.monotonic(), thread, ignored.id))
    first_reply = next(m for m in bot_posts(discord_emulator, thread) if m.content.startswith("[A00001]"))
    async with aiohttp.ClientSession() as http:  # posted again (waiting out a 429 the bot's own writes may cause)
        status, _ = await rest(
            http, discord_emulator, "POST", f"/channels/{thread}/messages", {"content": first_reply.content}
        )
        assert status == 200

    findings = Findings(turns=turns)
    judge_turns(discord_emulator, script, findings, [])
    find_duplicates(discord_emulator, script, findings)

    assert [t.outcome for t in turns] == ["answered", "answered", "told", None]
    assert findings.answered == 2 and dict(findings.told) == {"⚠️ line": 1}
    assert len(findings.lost) == 1 and turns[3].canary in findings.lost[0] and "no provider call" in findings.lost[0]
    assert findings.duplicates == [f"[A00001] (ok) starts 2 messages, in thread(s) [{thread}]"]
    assert [s.fault for s in script.by_tag.values()] == ["ok", "ok", "500"]  # one call each: nothing retried


def test_a_secret_a_member_word_or_a_reply_in_any_log_is_found_and_the_secret_not_repeated(tmp_path: Path) -> None:
    clean, leaky = tmp_path / "bot-1.log", tmp_path / "bot-2.log"
    clean.write_text("INFO bot.app: connected to Discord as EmulatorBot\n")
    leaky.write_text(
        'DEBUG store: UPDATE sessions SET state = \'{"access": "av-access-7"}\'\n'
        "DEBUG store: [parameters: ('Question 2 canarybcdfghjkmn: how much tax')]\n"
        "DEBUG store: [parameters: ('[A00002] the answer depends', 41)]\n"
    )
    findings = Findings(turns=[])
    secrets = [("DISCORD_TOKEN", BOT_TOKEN), ("an Agentverse token", "av-access-7")]

    search_logs([clean, leaky], secrets, {"canarybcdfghjkmn", "canaryzzzzzzzzzz"}, findings, {"[A00002]", "[M00001]"})

    assert findings.secrets == [
        'an Agentverse token (in bot-2.log): DEBUG store: UPDATE sessions SET state = \'{"access": "<SECRET>"}\''
    ]
    assert findings.canaries == [
        "1 canaries in bot-2.log, first: DEBUG store: [parameters: ('Question 2 canarybcdfghjkmn: how much tax')]"
    ]
    assert findings.replies == [
        "1 reply tags in bot-2.log, first: DEBUG store: [parameters: ('[A00002] the answer depends', 41)]"
    ]
