"""Pictures for the manual, made from what the loopback Discord emulator recorded (and the architecture diagram).

    python -m bench.screens [--out docs/images] [--html DIR] [--only NAME ...]

Regenerating them (from the repository root, with the project installed: `pip install -e '.[dev]'`):

1. Once per machine: `apt-get install -y chromium fonts-noto-color-emoji` (headless Chromium shoots the
   pages; the emoji font draws ✅, 🎙️ and 💬 as Discord does).
2. `python -m bench.screens` plays five scenes as members against the real bot (`bot.runner.serve`, the
   entry point of `python -m bot`, through tests/support/harness.py, with `USER_INSTALLS=on`) on the
   loopback Discord, aBLT, Convai and Agentverse emulators, with a throwaway SQLite file:

   - `streamed-reply`: `/chat` with aBLT; a Markdown answer streams into the thread and continues in a
     second message past Discord's 2,000 characters;
   - `agentverse-buttons`: an Agentverse objective whose task list and confirmation became buttons;
   - `long-choices`: an Agentverse task list with a label past a button's 80 characters, posted as
     Components V2 sections (each choice's whole text beside its own button), then one chosen;
   - `convai-voice`: a member's voice note in a Convai thread, what Convai heard, and its spoken answer
     as a Discord voice message;
   - `user-install-reply`: a member who added the app to his own account runs `/chat` in a server the bot
     is not in; the answer streams into the command's own reply, 💬 Reply under it.

   Each thread (or, for `user-install-reply`, the channel), as the emulator recorded it (messages,
   Markdown, embeds, components, Components V2 layouts, attachments and flags, authors, who used which
   command, the thread's name), is rendered as an HTML page in Discord's dark look (`render.page`, a pure
   function of the recorded `Scene`) and shot with headless Chromium at 900 px wide to
   `docs/images/<scene>.png`. `--html DIR` keeps the pages; `--only` picks scenes by name.
3. The same command writes `docs/images/architecture.svg` (`architecture.py`: boxes laid out by hand,
   written as SVG by Python; `--only architecture` writes just that, without Chromium or the bot).

Nothing leaves the machine: every emulator listens on 127.0.0.1, and Chromium runs with networking
features off. Module map: `scenes` (play and record), `capture` (emulator records -> `Scene`), `scene`
(the data), `render` + `markdown` + `style.css` (HTML), `chromium` (PNG), `architecture` (SVG).
"""
