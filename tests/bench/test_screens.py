"""The manual's pictures: recorded messages render to escaped HTML with their buttons and voice bar (no Chromium)."""

from __future__ import annotations

import base64
from typing import Any

from bench.screens.capture import capture_channel, post
from bench.screens.markdown import to_html
from bench.screens.render import WAVE_BARS, page
from bench.screens.scene import Button, Container, File, Row, Scene, Section, Separator, Text, Thumbnail
from tests.emulators.discord import (
    COMPONENTS_V2_FLAG,
    VOICE_MESSAGE_FLAG,
    AttachmentRecord,
    DiscordEmulator,
    MessageRecord,
)

HOSTILE = "<script>alert('pwned')</script>"


def recorded(discord: DiscordEmulator, author_id: int, content: str, **fields: Any) -> MessageRecord:
    """A message as the emulator records it (snowflake id, channel, author)."""
    message_id = discord.core.world.ids.next()
    return MessageRecord(message_id, discord.channel_id, discord.guild_id, author_id, content, **fields)


def voice_note(discord: DiscordEmulator) -> AttachmentRecord:
    waveform = base64.b64encode(bytes(range(0, 250, 10))).decode()
    return AttachmentRecord(
        id=discord.core.world.ids.next(),
        filename="voice-message.ogg",
        content_type="audio/ogg",
        size=11969,
        data=b"OggS",
        url="http://127.0.0.1/voice-message.ogg",
        duration_secs=3.2,
        waveform=waveform,
    )


def scene() -> Scene:
    discord = DiscordEmulator()
    bot, alice = discord.bot_user_id, discord.user_id
    buttons = [
        {"type": 2, "style": 3, "label": "Confirm", "custom_id": "offer:0a1b2c3d:0"},
        {"type": 2, "style": 4, "label": f"Reject {HOSTILE}", "custom_id": "offer:0a1b2c3d:1", "disabled": True},
    ]
    messages = [
        recorded(discord, alice, f"Plan my trip {HOSTILE} **now**"),
        recorded(discord, bot, "Please confirm:\n• **to**: Warsaw", components=[{"type": 1, "components": buttons}]),
        recorded(discord, bot, "", flags=VOICE_MESSAGE_FLAG, attachments=[voice_note(discord)]),
    ]
    return Scene(
        title=f"Trip {HOSTILE}",
        channel="general",
        thread=f"Trip {HOSTILE}",
        posts=tuple(post(discord, m) for m in messages),
    )


def test_a_recorded_thread_renders_its_text_buttons_and_voice_bar_with_member_and_ai_text_escaped() -> None:
    html = page(scene())

    assert "<script>" not in html and "alert('pwned')" not in html
    shown = "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;"
    assert html.count(shown) == 5  # the page's title, the thread header, the composer, the message, the button
    assert "Plan my trip " in html and "<strong>now</strong>" in html and "<strong>to</strong>: Warsaw" in html
    assert '<span class="button s3"><span>Confirm</span></span>' in html
    assert '<span class="button s4 off"><span>Reject &lt;script&gt;' in html
    assert html.count('<div class="voice">') == 1 and html.count('<i style="height:') == WAVE_BARS
    assert '<span class="length">0:03</span>' in html
    assert '<span class="tag">BOT</span>' in html and '<span class="name">Alice</span>' in html
    assert '<span class="sep">&#8250;</span>' in html  # the thread header: "#general > the thread's name"


def layout_message(discord: DiscordEmulator) -> MessageRecord:
    """A Components V2 message using every kind the pictures show, hostile text in each place text goes."""
    choose = {"type": 2, "style": 2, "label": f"Choose {HOSTILE}", "custom_id": "offer:1:0"}
    taken = {"type": 2, "style": 4, "label": "Choose 2", "custom_id": "offer:1:1", "disabled": True}
    report = AttachmentRecord(
        id=discord.core.world.ids.next(),
        filename="answer.md",
        content_type="text/markdown",
        size=2048,
        data=b"# answer",
        url="http://127.0.0.1/answer.md",
    )
    components = [
        {"type": 10, "content": f"Pick one **now** {HOSTILE}"},
        {"type": 9, "components": [{"type": 10, "content": f"**1.** {HOSTILE}"}], "accessory": choose},
        {
            "type": 9,
            "components": [{"type": 10, "content": "**2.** Hotels"}, {"type": 10, "content": "-# near the centre"}],
            "accessory": {"type": 11, "media": {"url": "https://example.com/a.png"}, "description": f'x" {HOSTILE}'},
        },
        {"type": 14, "divider": True, "spacing": 2},
        {
            "type": 17,
            "accent_color": 0x5865F2,
            "components": [
                {"type": 10, "content": "Inside"},
                {"type": 14, "divider": False},
                {"type": 1, "components": [taken]},
                {"type": 13, "file": {"url": "attachment://answer.md"}},
            ],
        },
        {"type": 18, "label": "a modal's component: not shown"},
    ]
    return recorded(
        discord, discord.bot_user_id, "", flags=COMPONENTS_V2_FLAG, components=components, attachments=[report]
    )


def test_a_components_v2_message_is_read_as_its_layout() -> None:
    discord = DiscordEmulator()
    shown = post(discord, layout_message(discord))

    assert shown.content == "" and shown.rows == () and shown.files == ()  # the file is shown in the layout
    assert shown.layout == (
        Text(f"Pick one **now** {HOSTILE}"),
        Section((Text(f"**1.** {HOSTILE}"),), Button(f"Choose {HOSTILE}", 2)),
        Section((Text("**2.** Hotels"), Text("-# near the centre")), Thumbnail(f'x" {HOSTILE}')),
        Separator(divider=True, large=True),
        Container(
            (
                Text("Inside"),
                Separator(divider=False),
                Row((Button("Choose 2", 4, disabled=True),)),
                File("answer.md", 2048),
            ),
            accent=0x5865F2,
        ),
    )


def test_a_components_v2_message_renders_sections_with_their_button_on_the_right_all_escaped() -> None:
    discord = DiscordEmulator()
    html = page(Scene(title="t", channel="general", thread=None, posts=(post(discord, layout_message(discord)),)))

    assert "<script>" not in html and "alert('pwned')" not in html and 'x" ' not in html
    shown = "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;"
    assert html.count(shown) == 4  # the text display, the section's text, its button, the thumbnail's title
    assert '<div class="text content">Pick one <strong>now</strong> ' in html
    assert (  # a section: its text, then (on its right) its button
        '<div class="section"><div class="texts"><div class="text content"><strong>1.</strong> &lt;script&gt;' in html
    )
    assert '</div></div><div class="accessory"><span class="button s2"><span>Choose &lt;script&gt;' in html
    assert '<div class="thumbnail" title="x&quot; &lt;script&gt;' in html
    assert '<div class="separator line large"></div>' in html and '<div class="separator"></div>' in html
    assert '<div class="container accent" style="border-left-color:#5865f2"><div class="text content">Inside' in html
    assert '<div class="row"><span class="button s4 off"><span>Choose 2</span></span></div>' in html  # greyed
    assert '<div class="fname">answer.md</div>' in html and "modal" not in html
    assert '<div class="content">' not in html  # no message content beside the layout


def test_a_channel_shows_who_used_the_command_above_its_answer_and_the_reply_button_under_it() -> None:
    discord = DiscordEmulator()
    world = discord.core.world
    bob = discord.add_user("bob")
    world.users[bob].global_name = f"Bob {HOSTILE}"
    reply = {"type": 2, "style": 1, "label": "Reply", "emoji": {"name": "💬"}, "custom_id": f"place-reply:{bob}"}
    for message in (
        recorded(discord, discord.user_id, "Why is the sky blue?"),
        recorded(
            discord,
            discord.bot_user_id,
            "Rayleigh scattering.",
            type=20,
            command_name="chat",
            interaction_user_id=bob,
            components=[{"type": 1, "components": [reply]}],
        ),
    ):
        world.store_message(message)

    scene = capture_channel(discord, discord.channel_id)
    html = page(scene)

    alice_said, answer = scene.posts
    assert scene.thread is None and alice_said.command is None and answer.command is not None
    assert "<script>" not in html
    assert '<div class="used"><span class="mini" style="background:' in html
    shown = "&lt;script&gt;alert(&#x27;pwned&#x27;)&lt;/script&gt;"
    assert f'<span class="who">Bob {shown}</span> used <span class="cmd">/chat</span>' in html
    assert html.index('class="used"') < html.index("Rayleigh scattering.") < html.index("<span>Reply</span>")
    assert '<span class="button s1"><span>💬</span><span>Reply</span></span>' in html
    assert '<div class="composer">Message #general</div>' in html


def test_markdown_links_only_http_and_code_stays_literal() -> None:
    assert to_html("[x](javascript:alert(1))") == "[x](javascript:alert(1))"
    assert to_html("[docs](https://example.com/a?b=1&c=2)") == '<a href="https://example.com/a?b=1&amp;c=2">docs</a>'
    assert to_html("`<b>`") == "<code>&lt;b&gt;</code>"
    assert to_html("```html\n<img src=x onerror=alert(1)>\n```") == (
        '<pre data-language="html"><code>&lt;img src=x onerror=alert(1)&gt;</code></pre>'
    )
