"""The manual stays true to the code: every setting documented, the dashboard's metrics served, README's links whole."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
from markdown.extensions.toc import slugify
from prometheus_client.parser import text_string_to_metric_families

from tests.support.harness import REPO, BotProcess
from tests.support.journey import WAIT_S

ROOT = REPO
DASHBOARD = ROOT / "docs" / "operations" / "grafana-dashboard.json"
# A setting in .env.example, commented out or not: `NAME=` or `# NAME=` at the start of a line.
SETTING = re.compile(r"^[ \t]*(?:#[ \t]*)?([A-Z][A-Z0-9_]*)=", re.MULTILINE)
METRIC = re.compile(r"\bbridgebot_[a-z0-9_]+\b")
# [text](target) and ![alt](target), an optional "title" after the target; and [label]: target definitions.
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


# -- 1. the configuration reference ------------------------------------------------------------------


def test_every_setting_in_env_example_is_in_the_configuration_reference() -> None:
    settings = SETTING.findall((ROOT / ".env.example").read_text())
    assert "DISCORD_TOKEN" in settings and "AGENTVERSE_IDLE_S" in settings  # the pattern reads the file
    page = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", page))
    assert [name for name in settings if name not in documented] == []


# -- 2. the Grafana dashboard --------------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])  # a collapsed row keeps its panels inside it


def queries(board: dict[str, Any]) -> list[str]:
    """Every PromQL expression: the panels' targets and the template variables' queries."""
    found = [target["expr"] for panel in panels(board) for target in panel.get("targets", [])]
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        if variable["type"] == "query":
            found.append(query["query"] if isinstance(query, dict) else query)
    return found


def test_the_dashboard_imports_with_a_prometheus_data_source_variable() -> None:
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource" and variables["DS_PROMETHEUS"]["query"] == "prometheus"
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids))
    for panel in panels(board):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}" and target["expr"].strip(), panel["title"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def sample_names(page: str) -> dict[str, str]:
    """Every sample name of a Prometheus exposition (histograms give `_bucket`, `_sum`, `_count`), with its family."""
    return {sample.name: family.name for family in text_string_to_metric_families(page) for sample in family.samples}


async def test_the_dashboard_queries_only_metrics_a_running_bot_serves_and_charts_every_one(
    make_bot: Callable[..., BotProcess],
) -> None:
    used = {name for query in queries(dashboard()) for name in METRIC.findall(query)}
    assert used  # the pattern reads the queries
    port = free_port()
    bot = make_bot(HEALTH_PORT=str(port))
    await bot.start()
    try:
        async with aiohttp.ClientSession() as http:
            deadline = asyncio.get_running_loop().time() + WAIT_S
            while True:  # the gateway latency is exported once the first heartbeat is acknowledged
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    assert response.status == 200
                    served = sample_names(await response.text())
                if used <= served.keys() or asyncio.get_running_loop().time() > deadline:
                    break
                await asyncio.sleep(0.1)
    finally:
        await bot.stop()

    assert sorted(used - served.keys()) == []
    # prometheus-client also exports each counter's and histogram's creation time as `<name>_created`: no chart.
    families = {f for f in served.values() if f.startswith("bridgebot_") and not f.endswith("_created")}
    charted = {family for name, family in served.items() if name in used}
    assert sorted(families - charted) == []  # a new metric needs a panel too


# -- 3. README's links ---------------------------------------------------------------------------------


def heading_anchors(markdown_file: Path) -> set[str]:
    """The anchors MkDocs gives the file's headings (the toc extension's default slugify)."""
    text = FENCE.sub("", markdown_file.read_text())
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.MULTILINE)
    return {slugify(heading.replace("`", ""), "-") for heading in headings}


def test_every_relative_link_in_the_readme_points_to_a_file_that_exists() -> None:
    readme = FENCE.sub("", (ROOT / "README.md").read_text())
    targets = INLINE_LINK.findall(readme) + REFERENCE_LINK.findall(readme)
    relative = [t for t in targets if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]
    assert "docs/images/streamed-reply.png" in relative  # the pattern reads the links
    assert [target for target in relative if is_broken(target)] == []


def is_broken(target: str) -> bool:
    """A link relative to the top folder that leaves it, names no file, or names a heading its page lacks."""
    path, _, anchor = target.partition("#")
    file = (ROOT / path).resolve()
    if not file.is_relative_to(ROOT) or not file.exists():
        return True
    return bool(anchor) and file.suffix == ".md" and anchor not in heading_anchors(file)


def test_the_architecture_page_names_every_module() -> None:
    """Each module of bot/ and cogs/ has its row (a package's `_private` modules are described with the package)."""
    page = (ROOT / "docs" / "architecture.md").read_text()
    missing = []
    for path in sorted([*(ROOT / "bot").rglob("*.py"), *(ROOT / "cogs").rglob("*.py")]):
        if path.name == "__init__.py":
            continue
        named = path.relative_to(ROOT).as_posix()
        package = path.parent.relative_to(ROOT).as_posix() + "/"
        if f"`{named}`" not in page and not (path.name.startswith("_") and f"`{package}`" in page):
            missing.append(named)
    assert missing == []
