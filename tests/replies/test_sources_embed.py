"""The sources embed stays inside Discord's embed limits however many documents an answer cites."""

from __future__ import annotations

from bot.providers.base import Source
from bot.providers.magicai import source_list
from bot.replies.widgets import EMBED_DESCRIPTION_LIMIT, sources_embed


def test_many_long_sources_are_cut_with_a_count_of_the_rest() -> None:
    sources = tuple(Source(title="T" * 300, url=f"https://example.com/{'p' * 50}/{i}") for i in range(100))
    embed = sources_embed(sources)
    assert embed.description is not None and len(embed.description) <= EMBED_DESCRIPTION_LIMIT
    assert embed.description.endswith("more")
    assert len(embed.to_dict()["title"]) <= 256


def test_titles_and_urls_cannot_break_the_link_markup() -> None:
    embed = sources_embed((Source("A [tricky] title", "https://x.test/a (b)"), Source("No link")))
    assert embed.description == "1. [A (tricky) title](https://x.test/a%20%28b%29)\n2. No link"


def test_source_documents_are_deduplicated_by_url_then_title() -> None:
    documents = [
        {"pageContent": "a", "metadata": {"title": "One", "url": "https://x.test/1"}},
        {"pageContent": "b", "metadata": {"title": "One again", "url": "https://x.test/1"}},
        {"pageContent": "c", "metadata": {"title": "Manual"}},
        {"pageContent": "d", "metadata": {"title": "Manual"}},
        {"pageContent": "e", "metadata": {"title": "Bad scheme", "url": "javascript:alert(1)"}},
        {"pageContent": "f"},
        "not a document",
    ]
    assert source_list(documents) == (
        Source("One", "https://x.test/1"),
        Source("Manual", ""),
        Source("Bad scheme", ""),
    )
    assert source_list(None) == ()
