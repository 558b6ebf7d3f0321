"""The world a chaos run happens in: every emulator, two servers with three channels each, the members, the
database (a throwaway PostgreSQL database, or a SQLite file) and the bot's environment, secrets included."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url

from tests.emulators.ablt import AbltEmulator
from tests.emulators.agentverse import AgentverseEmulator
from tests.emulators.convai import ConvaiEmulator
from tests.emulators.discord import DiscordEmulator
from tests.emulators.magicai import MagicAIEmulator
from tests.emulators.soundverse import SoundverseEmulator
from tests.support.databases import postgres_database
from tests.support.harness import ABLT_KEY, BOT_TOKEN, CONVAI_KEY, MAGICAI_KEY, SOUNDVERSE_KEY, bot_environment

REPO = Path(__file__).resolve().parents[2]
SERVERS = 2
CHANNELS_PER_SERVER = 3
PROVIDERS = ("ablt", "magicai", "ablt", "soundverse", "convai", "ablt", "agentverse", "magicai")
"""Who each member talks to, in turn: aBLT (streamed) most, then the whole-answer providers, Convai, Agentverse."""
DATABASE_PASSWORD = "chaos pw/Zx9@k#%"
"""Put in DATABASE_URL (PostgreSQL's trust authentication ignores it) so the logs can be searched for it, in
plain and %-encoded form."""
PROVIDER_TIMEOUT_S = 3.0
AGENTVERSE_DELAY_S = (0.5, 3.0)


@dataclass
class World:
    discord: DiscordEmulator
    ablt: AbltEmulator
    magicai: MagicAIEmulator
    soundverse: SoundverseEmulator
    convai: ConvaiEmulator
    agentverse: AgentverseEmulator
    database_url: str
    channels: list[int]
    """Text channels, server by server."""
    guilds: list[int]

    def environment(self, log_level: str) -> dict[str, str]:
        """The bot's environment: the variables a user would set, aimed at the emulators."""
        env = {k: v for k, v in os.environ.items() if not k.isupper() or k in {"PATH", "HOME", "LANG"}}
        env |= bot_environment(
            self.discord,
            self.ablt,
            self.database_url,
            magicai=self.magicai,
            soundverse=self.soundverse,
            convai=self.convai,
            agentverse=self.agentverse,
        )
        return env | {
            "HEALTH_PORT": "0",
            "PROVIDER_TIMEOUT_S": f"{PROVIDER_TIMEOUT_S:g}",
            "CONVAI_VOICE_REPLIES": "off",
            "LOG_LEVEL": log_level,
            "PYTHONPATH": str(REPO),
        }

    def secrets(self) -> list[tuple[str, str]]:
        """Every secret the bot was given or handed during the run, with its name (call after the run: refreshed
        Agentverse tokens are minted as it goes, and interaction tokens with each interaction)."""
        found = [
            ("DISCORD_TOKEN", BOT_TOKEN),
            ("ABLT_API_KEY", ABLT_KEY),
            ("MAGICAI_API_KEY", MAGICAI_KEY),
            ("SOUNDVERSE_API_KEY", SOUNDVERSE_KEY),
            ("CONVAI_API_KEY", CONVAI_KEY),
        ]
        found += [("an Agentverse token", token) for token in sorted(self.agentverse.issued_tokens)]
        if not self.database_url.startswith("sqlite"):
            found += [
                ("DATABASE_URL password", DATABASE_PASSWORD),
                ("DATABASE_URL password, %-encoded", quote(DATABASE_PASSWORD, safe="")),
            ]
        # An interaction token lets whoever holds it post as the bot for 15 minutes (interactions/receiving-and-
        # responding.mdx: "Interaction tokens are valid for 15 minutes").
        found += [("an interaction token", i.token) for i in self.discord.interactions]
        return found


@asynccontextmanager
async def database(kind: str, workdir: Path) -> AsyncIterator[str]:
    """DATABASE_URL: a throwaway PostgreSQL database (dropped after) with DATABASE_PASSWORD in it, or a SQLite file."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bot.sqlite3'}"
        return
    async with postgres_database() as url:
        yield make_url(url).set(password=DATABASE_PASSWORD).render_as_string(hide_password=False)


@asynccontextmanager
async def world(kind: str, workdir: Path) -> AsyncIterator[World]:
    """Every emulator started on 127.0.0.1, the servers and channels made, and the database; all closed after."""
    async with AsyncExitStack() as stack:
        discord = await stack.enter_async_context(DiscordEmulator(token=BOT_TOKEN))
        ablt = await stack.enter_async_context(AbltEmulator(api_key=ABLT_KEY))
        magicai = await stack.enter_async_context(MagicAIEmulator(api_key=MAGICAI_KEY))
        soundverse = await stack.enter_async_context(SoundverseEmulator(api_key=SOUNDVERSE_KEY))
        convai = await stack.enter_async_context(ConvaiEmulator(api_key=CONVAI_KEY))
        agentverse = await stack.enter_async_context(AgentverseEmulator(delay_range_s=AGENTVERSE_DELAY_S))
        url = await stack.enter_async_context(database(kind, workdir))
        guilds = [discord.guild_id, *(discord.add_guild(f"Chaos {n + 1}") for n in range(1, SERVERS))]
        channels = []
        for guild in guilds:
            channels.append(discord.general_channel(guild))
            channels += [discord.add_text_channel(f"chaos-{n}", guild_id=guild) for n in range(1, CHANNELS_PER_SERVER)]
        yield World(discord, ablt, magicai, soundverse, convai, agentverse, url, channels, guilds)
