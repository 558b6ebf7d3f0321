"""Components V2: messages laid out entirely with components, under the ``IS_COMPONENTS_V2`` flag (1 << 15).

Sources (discord-api-docs components/reference.mdx, unless noted):

* With the flag "The ``content`` and ``embeds`` fields will no longer work", "The ``poll`` and ``stickers``
  fields are disabled" and "Messages allow up to 40 total components" (nested ones count; change-log.mdx, April
  29 2025: no limit on top-level components or on a Container's children any more). Sending ``content``,
  ``embeds``, ``sticker_ids`` or ``poll`` "will fail with a 400 BAD REQUEST response" (resources/message.mdx,
  Create Message); Discord names the field with ``MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2`` and
  "The 'content' field cannot be used when using MessageFlags.IS_COMPONENTS_V2" (as bots log it).
* "Once a message has been sent with this flag, it can't be removed from that message"; an edit may set it,
  and then "any of the used content, embeds, sticker_ids, or poll fields must have their values reset to
  empty" (resources/message.mdx, Edit Message).
* Text: "The character count of all text display components in a message may total up to 4000 characters"
  (discord-api-docs#8562, documenting what the API enforces; the error's shape is inferred).
* Layout: top level Action Row (1), Section (9), Text Display (10), Media Gallery (12), File (13), Separator
  (14), Container (17); a Container holds Action Rows, Text Displays, Sections, Media Galleries, Separators and
  Files; a Section holds one to three Text Displays and an ``accessory`` Button (2) or Thumbnail (11); Buttons
  and selects live in Action Rows (or a Button as an accessory); a Media Gallery has 1-10 items with a media
  ``url``; a File's ``file.url`` "only supports attachment references using the attachment://<filename>
  syntax"; Separator ``spacing`` 1 or 2; Container ``accent_color`` 0x000000-0xFFFFFF; descriptions ≤1024.
  Label (18), File Upload (19), Text Input (4) are for modals only. The error codes of these layout checks are
  Discord's generic ones (UNION_TYPE_CHOICES, BASE_TYPE_*); which one Discord picks for each is inferred.
"""

from __future__ import annotations

from typing import Any

from .components import ACTION_ROW, BUTTON, Path, validate_action_row, validate_button
from .errors import FormErrors

SECTION, TEXT_DISPLAY, THUMBNAIL, MEDIA_GALLERY, FILE, SEPARATOR, CONTAINER = 9, 10, 11, 12, 13, 14, 17
TOP_LEVEL = (ACTION_ROW, SECTION, TEXT_DISPLAY, MEDIA_GALLERY, FILE, SEPARATOR, CONTAINER)
IN_CONTAINER = (ACTION_ROW, TEXT_DISPLAY, SECTION, MEDIA_GALLERY, SEPARATOR, FILE)
SECTION_ACCESSORY = (BUTTON, THUMBNAIL)
MAX_V2_COMPONENTS = 40
MAX_V2_TEXT = 4000
LEGACY_FIELDS = ("content", "embeds", "sticker_ids", "poll")


def legacy_field_errors(form: FormErrors, fields: dict[str, Any]) -> None:
    """Each of ``content``/``embeds``/``sticker_ids``/``poll`` that holds something, refused under the flag
    (``null``, ``""`` and ``[]`` are empty)."""
    for name in LEGACY_FIELDS:
        if fields.get(name):
            form.add(
                (name,),
                "MESSAGE_CANNOT_USE_LEGACY_FIELDS_WITH_COMPONENTS_V2",
                f"The '{name}' field cannot be used when using MessageFlags.IS_COMPONENTS_V2",
            )


def check_v2_message(content: str, embeds: list[Any], sticker_ids: list[Any], poll: Any) -> None:
    """An edited message that is (or becomes) V2 keeps no legacy field: 400 50035 otherwise."""
    form = FormErrors()
    legacy_field_errors(form, {"content": content, "embeds": embeds, "sticker_ids": sticker_ids, "poll": poll})
    form.raise_if_any()


def count_components(node: Any) -> int:
    """Every component object, nested ones included (a Section's ``accessory`` too)."""
    if isinstance(node, list):
        return sum(count_components(n) for n in node)
    if isinstance(node, dict) and "type" in node:
        return 1 + count_components(node.get("components") or []) + count_components(node.get("accessory") or [])
    return 0


def validate_v2_components(form: FormErrors, components: list[Any]) -> None:
    """The whole layout of a V2 message: counts, text, nesting and each component's own fields."""
    if count_components(components) > MAX_V2_COMPONENTS:
        form.max_length(("components",), MAX_V2_COMPONENTS)
        return
    layout = _Layout(form)
    for i, comp in enumerate(components):
        layout.node(("components", i), comp, TOP_LEVEL)
    if layout.text > MAX_V2_TEXT:
        form.max_length(("components",), MAX_V2_TEXT)


class _Layout:
    """Walks the component tree, collecting errors, custom ids and the Text Displays' characters."""

    def __init__(self, form: FormErrors) -> None:
        self.form = form
        self.seen: set[str] = set()
        self.text = 0

    def node(self, path: Path, comp: Any, allowed: tuple[int, ...]) -> None:
        ctype = comp.get("type") if isinstance(comp, dict) else None
        if ctype not in allowed:
            choices = ", ".join(str(t) for t in allowed)
            self.form.add((*path, "type"), "UNION_TYPE_CHOICES", f'Value of field "type" must be one of ({choices}).')
            return
        if ctype == ACTION_ROW:
            validate_action_row(self.form, path, comp, self.seen)
        elif ctype == BUTTON:
            validate_button(self.form, path, comp, self.seen)
        elif ctype == TEXT_DISPLAY:
            self._text_display(path, comp)
        elif ctype == SECTION:
            self._section(path, comp)
        elif ctype == CONTAINER:
            self._container(path, comp)
        elif ctype == MEDIA_GALLERY:
            self._gallery(path, comp)
        else:
            self._content(path, comp, ctype)

    def _text_display(self, path: Path, comp: dict[str, Any]) -> None:
        content = comp.get("content")
        if not isinstance(content, str) or not content:
            self.form.required((*path, "content"))
            return
        if len(content) > MAX_V2_TEXT:
            self.form.max_length((*path, "content"), MAX_V2_TEXT)
        self.text += len(content)

    def _section(self, path: Path, comp: dict[str, Any]) -> None:
        children = comp.get("components")
        if not isinstance(children, list) or not 1 <= len(children) <= 3:
            self.form.bad_length((*path, "components"), 1, 3)
            children = []
        for j, child in enumerate(children):
            self.node((*path, "components", j), child, (TEXT_DISPLAY,))
        if "accessory" not in comp:
            self.form.required((*path, "accessory"))
        else:
            self.node((*path, "accessory"), comp["accessory"], SECTION_ACCESSORY)

    def _container(self, path: Path, comp: dict[str, Any]) -> None:
        children = comp.get("components")
        if not isinstance(children, list) or not children:
            self.form.required((*path, "components"))
            children = []
        for j, child in enumerate(children):
            self.node((*path, "components", j), child, IN_CONTAINER)
        color = comp.get("accent_color")
        if color is not None and (not isinstance(color, int) or not 0 <= color <= 0xFFFFFF):
            self.form.add(
                (*path, "accent_color"), "NUMBER_TYPE_MAX", "int value should be less than or equal to 16777215."
            )

    def _gallery(self, path: Path, comp: dict[str, Any]) -> None:
        items = comp.get("items")
        if not isinstance(items, list) or not 1 <= len(items) <= 10:
            self.form.bad_length((*path, "items"), 1, 10)
            return
        for k, item in enumerate(items):
            self._media((*path, "items", k), item if isinstance(item, dict) else {}, "media")

    def _content(self, path: Path, comp: dict[str, Any], ctype: int) -> None:
        if ctype == THUMBNAIL:
            self._media(path, comp, "media")
        elif ctype == FILE:
            media = comp.get("file")
            url = media.get("url") if isinstance(media, dict) else None
            if not isinstance(url, str) or not url.startswith("attachment://"):
                self.form.add((*path, "file", "url"), "UNFURLED_MEDIA_ITEM_INVALID_URL", "Only attachment:// URLs")
        elif ctype == SEPARATOR and comp.get("spacing", 1) not in (1, 2):
            self.form.choices((*path, "spacing"), "(1, 2)")

    def _media(self, path: Path, item: dict[str, Any], key: str) -> None:
        media = item.get(key)
        if not isinstance(media, dict) or not isinstance(media.get("url"), str) or not media["url"]:
            self.form.required((*path, key, "url"))
        description = item.get("description")
        if isinstance(description, str) and len(description) > 1024:
            self.form.max_length((*path, "description"), 1024)
