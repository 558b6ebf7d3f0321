"""Interactive message components shared by both layouts: action rows of buttons or one select, with Discord's
limits (components/reference.mdx "Action Row", "Button", "String Select"): ≤5 buttons or one select per row,
button label ≤80, custom_id 1-100 and unique per message, link buttons need a url and no custom_id, premium
buttons an sku_id, select placeholder ≤150 and 1-25 options of ≤100 characters. Legacy messages hold ≤5 action
rows; a Components V2 message places them anywhere its layout allows (:mod:`.components_v2`).
"""

from __future__ import annotations

from typing import Any

from .errors import FormErrors

ACTION_ROW, BUTTON = 1, 2
MAX_ACTION_ROWS = 5
SELECT_TYPES = (3, 5, 6, 7, 8)
LINK_STYLE = 5
PREMIUM_STYLE = 6
Path = tuple[str | int, ...]


def check_custom_id(form: FormErrors, path: tuple[str | int, ...], comp: dict[str, Any], seen: set[str]) -> None:
    cid = comp.get("custom_id")
    if not isinstance(cid, str) or not cid:
        form.required((*path, "custom_id"))
        return
    if len(cid) > 100:
        form.bad_length((*path, "custom_id"), 1, 100)
    if cid in seen:
        form.add((*path, "custom_id"), "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated")
    seen.add(cid)


def validate_button(form: FormErrors, path: tuple[str | int, ...], comp: dict[str, Any], seen: set[str]) -> None:
    style = comp.get("style")
    label = comp.get("label")
    if isinstance(label, str) and len(label) > 80:
        form.max_length((*path, "label"), 80)
    if style == LINK_STYLE:
        if not comp.get("url"):
            form.add((*path, "url"), "BUTTON_COMPONENT_URL_REQUIRED", "A url is required")
        if "custom_id" in comp:
            form.add(
                (*path, "custom_id"),
                "BUTTON_COMPONENT_LINK_HAS_CUSTOM_ID",
                "A custom id cannot be specified for link buttons",
            )
    elif style == PREMIUM_STYLE:
        if not comp.get("sku_id"):
            form.required((*path, "sku_id"))
    elif style in (1, 2, 3, 4):
        if comp.get("url"):
            form.add((*path, "url"), "BUTTON_COMPONENT_INVALID_URL", "A url cannot be specified for this button")
        check_custom_id(form, path, comp, seen)
    else:
        form.choices((*path, "style"), "(1, 2, 3, 4, 5, 6)")
    if style != PREMIUM_STYLE and not label and not comp.get("emoji"):
        form.add((*path, "label"), "BUTTON_COMPONENT_LABEL_OR_EMOJI_REQUIRED", "A label or emoji is required")


def validate_select(form: FormErrors, path: tuple[str | int, ...], comp: dict[str, Any], seen: set[str]) -> None:
    check_custom_id(form, path, comp, seen)
    placeholder = comp.get("placeholder")
    if isinstance(placeholder, str) and len(placeholder) > 150:
        form.max_length((*path, "placeholder"), 150)
    if comp.get("type") == 3:
        options = comp.get("options") or []
        if not 1 <= len(options) <= 25:
            form.bad_length((*path, "options"), 1, 25)
        for k, opt in enumerate(options[:25]):
            for key in ("label", "value", "description"):
                value = opt.get(key)
                if isinstance(value, str) and len(value) > 100:
                    form.max_length((*path, "options", k, key), 100)


def validate_action_row(form: FormErrors, rpath: Path, row: Any, seen: set[str]) -> None:
    """One action row at ``rpath``: 1-5 buttons, or a single select."""
    if not isinstance(row, dict) or row.get("type") != ACTION_ROW:
        form.add((*rpath, "type"), "UNION_TYPE_CHOICES", 'Value of field "type" must be one of (1,).')
        return
    children = row.get("components") or []
    if not 1 <= len(children) <= 5:
        form.bad_length((*rpath, "components"), 1, 5)
        return
    selects = [c for c in children if isinstance(c, dict) and c.get("type") in SELECT_TYPES]
    if selects and len(children) > 1:
        form.add(
            (*rpath, "components"),
            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
            "The specified component exceeds the maximum width",
        )
    for j, comp in enumerate(children):
        cpath = (*rpath, "components", j)
        ctype = comp.get("type") if isinstance(comp, dict) else None
        if ctype == BUTTON:
            validate_button(form, cpath, comp, seen)
        elif ctype in SELECT_TYPES:
            validate_select(form, cpath, comp, seen)
        else:
            form.add((*cpath, "type"), "COMPONENT_TYPE_INVALID", "Invalid component type for an action row")


def validate_legacy_components(form: FormErrors, components: list[Any]) -> None:
    """A message without IS_COMPONENTS_V2: at most 5 action rows."""
    if len(components) > MAX_ACTION_ROWS:
        form.max_length(("components",), MAX_ACTION_ROWS)
        return
    seen: set[str] = set()
    for i, row in enumerate(components):
        validate_action_row(form, ("components", i), row, seen)
