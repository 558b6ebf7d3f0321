"""Property tests of the composer's form: every form the bot can build is one Discord accepts and, submitted
untouched, reads back as it was filled in; any submission whatever (custom ids, select values not among the
options, file ids missing from `resolved`, attachment objects with lying or mistyped fields) is read into a draft
that keeps the documented promises, or refused with `BadForm`, and nothing else is raised."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping
from typing import Any

import aiohttp
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.config.settings import load_settings
from bot.providers.base import Provider
from bot.providers.registry import build_providers
from cogs.common.chat_command import OPTION_MAX_CHARS, PROMPT_MAX_CHARS
from cogs.common.composer_form import (
    FILE_LOST,
    FILES_ID,
    MAX_TOP_LEVEL,
    OPTION_PREFIX,
    PROMPT_ID,
    PROVIDER_ID,
    SALVAGED_CHARS,
    BadForm,
    Draft,
    composer_form,
    options_for,
    read_submission,
    salvaged_prompt,
)
from tests.emulators.discord.modals import ModalSubmission, check_modal
from tests.emulators.discord.records import AttachmentSpec
from tests.test_structure import SETTINGS

FAST = settings(max_examples=300, deadline=None)


def _providers() -> dict[str, Provider]:
    """The real providers as configured in production (none of them is asked anything here)."""

    async def build() -> dict[str, Provider]:
        async with aiohttp.ClientSession() as session:
            return build_providers(load_settings(SETTINGS, None), session)

    return asyncio.run(build())


PROVIDERS = _providers()
KEYS = list(PROVIDERS)
OPTIONS = {o.name: o for p in PROVIDERS.values() for o in p.chat_options}
CHOICES = [value for o in OPTIONS.values() for value in o.choices]


def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`usual` four times in five, else `odd`: enough well-formed parts to reach the checks behind the first."""
    return st.sampled_from([1, 2, 3, 4, 0]).flatmap(lambda n: usual if n else odd)


def _unique_inputs(tops: list[Any]) -> list[Any]:
    """Mostly one input per custom id, as a real form has (a repeat is refused, and would hide the rest)."""
    seen: set[str] = set()
    kept = []
    for top in tops:
        custom_id = top.get("component", {}).get("custom_id") if isinstance(top, dict) else None
        if custom_id not in seen or custom_id is None:
            kept.append(top)
        seen.add(custom_id)
    return kept


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20), st.sampled_from([*KEYS, *CHOICES])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
ids = mostly(
    st.sampled_from(["1", "123456789012345678"]),
    st.sampled_from(["0", "-1", "1.5", "\u0661", "99999999999999999999999", "1 "]),
)
ours = st.sampled_from(["composer:", "composer:ablt", "composer:soundverse", "composer:convai", "composer:magicai"])
custom_ids = mostly(ours, st.sampled_from(["composer:gpt", "composer:ABLT", "composer:ablt\n"]) | scalars)
input_ids = st.sampled_from([PROMPT_ID, PROVIDER_ID, FILES_ID, *(OPTION_PREFIX + n for n in [*OPTIONS, "nope"])])
texts = st.text(max_size=20) | st.text(min_size=3990, max_size=4010) | st.text(min_size=95, max_size=105)
answers = st.fixed_dictionaries(
    {"custom_id": input_ids},
    optional={
        "type": st.sampled_from([3, 4, 19]) | st.integers(),
        "value": st.one_of(texts, texts, json_values),
        "values": st.one_of(st.lists(ids, max_size=3), st.lists(ids | scalars, max_size=12), json_values),
    },
)
uploads_answer = st.fixed_dictionaries(
    {"type": st.just(19), "custom_id": st.just(FILES_ID), "values": st.lists(ids, unique=True, max_size=3)}
)
labels = st.builds(lambda a: {"type": 18, "id": 1, "component": a}, answers | uploads_answer)
tops = mostly(labels, st.builds(lambda a: {"type": 1, "components": a}, st.lists(answers, max_size=2)) | scalars)
attachments = st.builds(
    lambda fields, drop: {k: v for k, v in fields.items() if k not in drop},
    st.fixed_dictionaries(
        {
            "id": ids | scalars,
            "filename": st.sampled_from(["a.txt", "voice.ogg", "", "x" * 1025]) | scalars,
            "size": st.integers(-5, 10**12) | scalars,
            "url": st.sampled_from(["https://cdn.discordapp.com/a", "http://127.0.0.1/a", "file:///etc/passwd"])
            | scalars,
            "content_type": st.sampled_from(["text/plain", "audio/ogg"]) | scalars,
            "duration_secs": st.floats() | scalars,
        }
    ),
    st.sets(st.sampled_from(["id", "filename", "size", "url", "content_type", "duration_secs"]), max_size=2),
)


def _good(key: str) -> st.SearchStrategy[dict[str, Any]]:
    """An attachment object as Discord sends it (`size` is still only what the uploader declared)."""
    return st.builds(
        lambda size, kind: {"id": key, "filename": f"f{key}.{kind}", "size": size, "url": f"https://cdn/{key}"},
        st.integers(0, 10**9),
        st.sampled_from(["txt", "ogg", "pdf"]),
    )


resolved_files = st.lists(ids, unique=True, max_size=3).flatmap(
    lambda keys: st.fixed_dictionaries({key: mostly(_good(key), attachments) for key in keys})
)
submissions = st.fixed_dictionaries(
    {
        "custom_id": custom_ids,
        "components": mostly(st.lists(tops, max_size=6).map(_unique_inputs), json_values),
        "resolved": mostly(
            st.fixed_dictionaries({"attachments": st.dictionaries(ids, attachments, max_size=3)}), scalars
        ),
    }
)


def keeps_its_promises(draft: Draft, data: Mapping[str, Any]) -> None:
    """What every draft read from a submission is, whatever was submitted."""
    assert draft.provider is None or draft.provider in PROVIDERS
    if draft.named:
        assert data["custom_id"] == f"composer:{draft.provider}"
    assert draft.prompt == draft.prompt.strip() and len(draft.prompt) <= PROMPT_MAX_CHARS
    for name, value in draft.options.items():
        option = OPTIONS[name]
        assert value and len(value) <= OPTION_MAX_CHARS and (not option.choices or value in option.choices)
    resolved = data["resolved"]["attachments"] if draft.files else {}
    for file in draft.files:
        assert file["id"] in resolved and resolved[file["id"]]["id"] == file["id"] and file["id"].isascii()
        assert isinstance(file["size"], int) and not isinstance(file["size"], bool) and file["size"] >= 0
        assert 0 < len(file["filename"]) <= 1024 and file["url"].startswith(("https://", "http://"))
        assert math.isfinite(file.get("duration_secs", 0.0)) and file.get("duration_secs", 0.0) >= 0
    assert len({f["id"] for f in draft.files}) == len(draft.files) <= 10
    for provider in PROVIDERS.values():
        try:
            mine = options_for(provider, draft.options)
        except BadForm:
            continue
        assert set(mine) <= {o.name for o in provider.chat_options}


@FAST
@given(submissions | json_values)
@example({"custom_id": "composer:ablt", "components": [{"type": 18, "component": {"custom_id": FILES_ID}}]})
@example(
    {
        "custom_id": "composer:",
        "components": [{"type": 18, "component": {"custom_id": FILES_ID, "values": ["1", 1]}}],
        "resolved": {"attachments": {"1": {"id": "1", "filename": "a.txt", "size": 3, "url": "https://x/a"}}},
    }
)
@example(  # a text value typed (or crafted) for an option whose choices are fixed: found by this property
    {
        "custom_id": "composer:",
        "components": [{"type": 18, "id": 1, "component": {"custom_id": "composer:option:action", "value": "0"}}],
        "resolved": {"attachments": {}},
    }
)
def test_any_submission_is_read_into_a_draft_that_keeps_its_promises_or_refused(data: Any) -> None:
    salvaged = salvaged_prompt(data)  # what a refusal hands back, whatever else is wrong
    assert len(salvaged) <= SALVAGED_CHARS and salvaged == salvaged.strip()
    try:
        draft = read_submission(data, PROVIDERS)
    except BadForm as exc:
        assert str(exc) and exc.reason
        return
    keeps_its_promises(draft, data)
    assert salvaged == draft.prompt


given_options = st.dictionaries(
    st.sampled_from(list(OPTIONS)),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=OPTION_MAX_CHARS) | st.sampled_from(CHOICES),
    max_size=3,
)
drafts = st.builds(
    Draft,
    provider=st.none() | st.sampled_from(KEYS),
    named=st.booleans(),
    prompt=st.text(max_size=PROMPT_MAX_CHARS),
    options=given_options,
)
uploads = st.lists(
    st.builds(AttachmentSpec, st.sampled_from(["notes.txt", "voice.ogg", "main.py"]), st.binary(max_size=20)),
    max_size=5,
)


@FAST
@given(drafts, st.none() | st.sampled_from(KEYS), uploads)
def test_every_form_is_one_discord_accepts_and_reads_back_as_filled_in(
    draft: Draft, default: str | None, files: list[AttachmentSpec]
) -> None:
    if draft.named and draft.provider is None:
        draft = Draft(KEYS[0], True, draft.prompt, draft.options)
    form = check_modal(composer_form(list(PROVIDERS.values()), draft, default).to_dict())
    assert len(form["components"]) <= MAX_TOP_LEVEL
    shown = {top["component"]["custom_id"]: top["component"] for top in form["components"]}
    values: dict[str, Any] = {FILES_ID: files}
    menu = shown.get(PROVIDER_ID)
    if menu is not None and not any(o.get("default") for o in menu["options"]):
        values[PROVIDER_ID] = [KEYS[-1]]  # a required pick the member has to make
    stored: list[dict[str, Any]] = []

    def store(spec: AttachmentSpec) -> dict[str, Any]:
        stored.append(
            {"id": str(len(stored) + 1), "filename": spec.filename, "size": len(spec.data), "url": "https://x"}
        )
        return stored[-1]

    data = ModalSubmission(form, store, 10 * 1024 * 1024).data(values)
    read = read_submission(data, PROVIDERS)

    assert read.prompt == draft.prompt.strip() and read.named == draft.named
    expected = draft.provider if draft.named else (values.get(PROVIDER_ID) or [draft.provider or default])[0]
    assert read.provider == expected
    fits = {n for n, value in draft.options.items() if not OPTIONS[n].choices or value in OPTIONS[n].choices}
    chosen = {
        name: value.strip()
        for name, value in draft.options.items()
        if OPTION_PREFIX + name in shown and value.strip() and name in fits
    }
    assert dict(read.options) == chosen
    assert [f["id"] for f in read.files] == [s["id"] for s in stored]


@FAST
@given(st.lists(ids, max_size=4), resolved_files)
@example(["1", "1"], {"1": {"id": "1", "filename": "a.txt", "size": 3, "url": "https://x/a"}})
@example(["1"], {"1": {"id": 1, "filename": "a.txt", "size": 3, "url": "https://x/a"}})
@example(["1"], {"1": {"id": "1", "filename": "a.txt", "size": -1, "url": "https://x/a"}})
def test_only_files_found_in_resolved_with_the_documented_fields_are_taken(
    values: list[str], attachments: dict[str, Any]
) -> None:
    upload = {"type": 19, "id": 2, "custom_id": FILES_ID, "values": values}
    data = {
        "custom_id": "composer:ablt",
        "components": [{"type": 18, "id": 1, "component": upload}],
        "resolved": {"attachments": attachments},
    }
    usable = len(set(values)) == len(values) and all(_well_formed(v, attachments.get(v)) for v in values)
    try:
        draft = read_submission(data, PROVIDERS)
    except BadForm as exc:
        assert str(exc) == FILE_LOST and not usable
        return
    assert usable
    keeps_its_promises(draft, data)
    assert [f["id"] for f in draft.files] == values
    for file in draft.files:
        sent = attachments[file["id"]]
        assert (file["filename"], file["size"], file["url"]) == (sent["filename"], sent["size"], sent["url"])


def _well_formed(key: str, sent: object) -> bool:
    """An attachment object as documented (resources/message.mdx), written out apart from the code under test."""
    if not (key.isascii() and key.isdigit() and len(key) <= 20 and isinstance(sent, dict) and sent.get("id") == key):
        return False
    filename, size, url = sent.get("filename"), sent.get("size"), sent.get("url")
    content_type, duration = sent.get("content_type"), sent.get("duration_secs")
    return (
        isinstance(filename, str)
        and 0 < len(filename) <= 1024
        and type(size) is int
        and size >= 0
        and isinstance(url, str)
        and url.startswith(("https://", "http://"))
        and (content_type is None or isinstance(content_type, str))
        and (duration is None or (type(duration) in (int, float) and math.isfinite(duration)))
    )
