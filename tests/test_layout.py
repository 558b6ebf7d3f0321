"""The layers the folders name, kept true by tests: who may import discord, who may import whom, cogs as
extensions only, and the size rules (docs/architecture.md explains the layout)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.app import EXTENSIONS

ROOT = Path(__file__).resolve().parents[1]
PROCESS = {"bot/__main__.py", "bot/app.py", "bot/runner.py", "bot/sharding.py", "bot/command_tree.py"}
"""The process: the only modules of bot/ outside the Discord side that may import discord."""
DISCORD_SIDE = ("bot/replies/", "bot/members/", "cogs/")
DISCORD_FREE = ("bot/core/", "bot/store/", "bot/providers/", "bot/config/", "bot/ops/", "bot/audio/")
PURE_VALUES = {"bot.providers.base", "bot.core.server_rules"}
"""Leaf modules of plain value types the store may build (history entries, a server's rules): they import
nothing from the bot, so importing them cannot pull a layer above the store into it."""
MAX_FILE_LINES = 400
MAX_CLASS_LINES = 300
MAX_FUNCTION_LINES = 60
LONG_BY_NATURE = {("bot/ops/metrics.py", "__init__")}
"""Functions allowed past the limit, each for a reason: the metrics are declared one after another."""


def modules(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def imports(path: Path) -> set[str]:
    """Every module `path` imports, as dotted names (`from a import b` counts as `a` and `a.b`)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def within(names: set[str], *prefixes: str) -> set[str]:
    return {n for n in names if any(n == p or n.startswith(p + ".") for p in prefixes)}


def test_only_the_process_the_discord_side_and_cogs_import_discord() -> None:
    for path in modules("bot", "cogs"):
        if relative(path) in PROCESS or relative(path).startswith(DISCORD_SIDE):
            continue
        assert not within(imports(path), "discord"), f"{relative(path)} imports discord"
    for folder in DISCORD_FREE:
        assert (ROOT / folder).is_dir(), folder  # a renamed layer must be renamed here too


def test_nothing_in_bot_imports_cogs() -> None:
    for path in modules("bot"):
        assert not within(imports(path), "cogs"), relative(path)


def test_providers_never_import_the_store_the_core_or_the_discord_side() -> None:
    above = ("bot.store", "bot.core", "bot.replies", "bot.members", "bot.app", "bot.command_tree", "bot.runner")
    for path in modules("bot/providers"):
        assert not within(imports(path), *above, "discord", "cogs"), relative(path)


def test_the_core_never_reaches_up_to_discord_or_the_process() -> None:
    above = ("bot.replies", "bot.members", "bot.app", "bot.command_tree", "bot.runner", "bot.sharding", "bot.ops")
    for path in modules("bot/core"):
        assert not within(imports(path), *above, "discord", "cogs"), relative(path)


def test_the_store_imports_only_itself_and_pure_value_modules() -> None:
    for path in modules("bot/store"):
        from_bot = {n for n in within(imports(path), "bot") if not within({n}, "bot.store")}
        assert {n for n in from_bot if not any(n == v or n.startswith(v + ".") for v in PURE_VALUES)} == set(), (
            relative(path)
        )
    for value_module in PURE_VALUES:
        path = ROOT / (value_module.replace(".", "/") + ".py")
        assert not within(imports(path), "bot"), f"{value_module} must stay a leaf"


def test_settings_audio_and_operations_sit_below_the_core() -> None:
    above = ("bot.core", "bot.replies", "bot.members", "bot.app", "bot.command_tree", "bot.runner", "cogs")
    for path in modules("bot/config", "bot/audio", "bot/ops"):
        assert not within(imports(path), *above, "discord"), relative(path)


def test_cogs_never_talk_http_or_sql() -> None:
    for path in modules("cogs"):
        assert not within(imports(path), "aiohttp", "aiosqlite", "sqlite3", "sqlalchemy", "asyncpg"), relative(path)


def test_cogs_holds_extensions_only_and_each_is_loaded() -> None:
    extensions = {f"cogs.{path.stem}" for path in (ROOT / "cogs").glob("*.py") if path.stem != "__init__"}
    assert extensions == set(EXTENSIONS)
    for name in extensions:
        tree = ast.parse((ROOT / "cogs" / f"{name.removeprefix('cogs.')}.py").read_text())
        assert ast.get_docstring(tree), name
        assert any(isinstance(n, ast.AsyncFunctionDef) and n.name == "setup" for n in tree.body), name
    for path in modules("cogs/common"):
        tree = ast.parse(path.read_text())
        assert not any(isinstance(n, ast.AsyncFunctionDef) and n.name == "setup" for n in tree.body), relative(path)


@pytest.mark.parametrize("folder", ["bot", "cogs"])
def test_every_module_says_its_job_and_none_outgrows_the_size_rules(folder: str) -> None:
    for path in modules(folder):
        tree = ast.parse(path.read_text())
        assert ast.get_docstring(tree), f"{relative(path)} has no module docstring"
        assert len(path.read_text().splitlines()) <= MAX_FILE_LINES, f"{relative(path)} is over {MAX_FILE_LINES} lines"
        for node in ast.walk(tree):
            size = (getattr(node, "end_lineno", 0) or 0) - getattr(node, "lineno", 0) + 1
            if isinstance(node, ast.ClassDef):
                assert size <= MAX_CLASS_LINES, f"{relative(path)}: {node.name} is {size} lines"
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (relative(path), node.name) not in (
                LONG_BY_NATURE
            ):
                assert size <= MAX_FUNCTION_LINES, f"{relative(path)}: {node.name}() is {size} lines"


def test_tests_mirror_the_code() -> None:
    """Each test folder is named for a layer of the code (or the emulators, support, or a whole-product area)."""
    layers = {p.name for p in (ROOT / "bot").iterdir() if p.is_dir() and not p.name.startswith("_")}
    allowed = layers | {"cogs", "process", "emulators", "support", "bench"}
    folders = {p.name for p in (ROOT / "tests").iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    assert folders <= allowed, folders - allowed
    assert not [
        p.name
        for p in (ROOT / "tests").glob("*.py")
        if p.name not in {"__init__.py", "conftest.py"} and not p.name.startswith("test_")
    ]  # helpers live in tests/support/
