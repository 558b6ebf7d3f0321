"""Modals: what a bot may open (callback type 9) and what the client sends back when a user submits one.

Sources (discord-api-docs): receiving-and-responding.mdx "Modal" (``custom_id`` 1-100, ``title`` ≤45, 1-5
components) and "Modal Submit Data Structure" (``custom_id``, ``components``, ``resolved``);
components/reference.mdx:

* Top level: a Label (18), a Text Display (10), or (deprecated, "Action Row with Text Inputs in modals are now
  deprecated") an Action Row (1) holding one Text Input.
* Label: ``label`` ≤45 characters, ``description`` ≤100, one ``component``: Text Input (4), a select (3, 5-8),
  File Upload (19), Radio Group (21), Checkbox Group (22), Checkbox (23). String Selects "must be placed inside
  ... a Label in modals"; "Using ``disabled`` in a modal will result in an error".
* Pre-filled: a Text Input's ``value`` ("Pre-filled value for this component") and a select option's ``default``
  ("Will show this option as selected by default") are what the client sends for an input the user leaves alone.
* Text Input: ``style`` 1 or 2, ``min_length`` 0-4000, ``max_length`` 1-4000, ``value`` ≤4000, ``placeholder``
  ≤100, ``required`` defaults to true. File Upload: ``min_values`` 0-10, ``max_values`` 1-10, ``file_types`` ≤10
  ("can be image, video, audio, or any dot-prefixed extension"; "only matches against the file extension"),
  "The max file size a user can upload is based on the user's upload limit in that channel".
* Submitted: a Label as ``{"type": 18, "id", "component": ...}``, a Text Input as ``{"type": 4, "id",
  "custom_id", "value"}``, a String Select as ``{"type": 3, "id", "custom_id", "values"}`` ("in modal
  interaction responses ``type`` will be returned"), a File Upload as ``{"type": 19, "id", "custom_id",
  "values": [attachment ids]}`` with the files in ``resolved.attachments`` (the reference's example marks them
  ``"ephemeral": true``), a Text Display as ``{"type": 10, "id"}``. Component ids are "generated sequentially
  if left empty". A deprecated Action Row comes back as ``{"type": 1, "components": [text input]}``.

Error codes of the modal checks are Discord's generic ones; which it picks for each is inferred.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Mapping
from typing import Any

from .components import ACTION_ROW, SELECT_TYPES, Path, check_custom_id
from .errors import FormErrors
from .records import AttachmentSpec

TEXT_INPUT, STRING_SELECT, TEXT_DISPLAY, LABEL, FILE_UPLOAD = 4, 3, 10, 18, 19
IN_LABEL = (TEXT_INPUT, *SELECT_TYPES, FILE_UPLOAD, 21, 22, 23)
SubmittedValue = str | list[str] | list[AttachmentSpec]


def check_modal(data: dict[str, Any]) -> dict[str, Any]:
    """Validate a type-9 callback's ``data``; 400 50035 listing every problem."""
    form = FormErrors()
    title = data.get("title")
    if not isinstance(title, str) or not 1 <= len(title) <= 45:
        form.bad_length(("data", "title"), 1, 45)
    cid = data.get("custom_id")
    if not isinstance(cid, str) or not 1 <= len(cid) <= 100:
        form.bad_length(("data", "custom_id"), 1, 100)
    comps = data.get("components")
    if not isinstance(comps, list) or not 1 <= len(comps) <= 5:
        form.bad_length(("data", "components"), 1, 5)
        comps = []
    seen: set[str] = set()
    for i, top in enumerate(comps):
        _check_top(form, ("data", "components", i), top, seen)
    form.raise_if_any()
    return data


def _check_top(form: FormErrors, path: Path, top: Any, seen: set[str]) -> None:
    ttype = top.get("type") if isinstance(top, dict) else None
    if ttype == LABEL:
        label = top.get("label")
        if not isinstance(label, str) or not 1 <= len(label) <= 45:
            form.bad_length((*path, "label"), 1, 45)
        description = top.get("description")
        if isinstance(description, str) and len(description) > 100:
            form.max_length((*path, "description"), 100)
        _check_input(form, (*path, "component"), top.get("component"), IN_LABEL, seen)
    elif ttype == ACTION_ROW:
        children = top.get("components")
        if not isinstance(children, list) or len(children) != 1:
            form.bad_length((*path, "components"), 1, 1)
            return
        _check_input(form, (*path, "components", 0), children[0], (TEXT_INPUT,), seen)
    elif ttype == TEXT_DISPLAY:
        if not isinstance(top.get("content"), str) or not top["content"]:
            form.required((*path, "content"))
    else:
        form.add((*path, "type"), "UNION_TYPE_CHOICES", 'Value of field "type" must be one of (1, 10, 18).')


def _check_input(form: FormErrors, path: Path, comp: Any, allowed: tuple[int, ...], seen: set[str]) -> None:
    ctype = comp.get("type") if isinstance(comp, dict) else None
    if ctype not in allowed:
        choices = ", ".join(str(t) for t in allowed)
        form.add((*path, "type"), "UNION_TYPE_CHOICES", f'Value of field "type" must be one of ({choices}).')
        return
    check_custom_id(form, path, comp, seen)
    if comp.get("disabled"):
        form.add((*path, "disabled"), "COMPONENT_MODAL_DISABLED", "Modals can not have disabled components")
    if ctype == TEXT_INPUT:
        if comp.get("style") not in (1, 2):
            form.choices((*path, "style"), "(1, 2)")
        for key, low, high in (("min_length", 0, 4000), ("max_length", 1, 4000)):
            value = comp.get(key)
            if value is not None and (not isinstance(value, int) or not low <= value <= high):
                form.add((*path, key), "NUMBER_TYPE_MAX", f"Value must be between {low} and {high}.")
        for key, limit in (("value", 4000), ("placeholder", 100)):
            if isinstance(comp.get(key), str) and len(comp[key]) > limit:
                form.max_length((*path, key), limit)
    elif ctype == STRING_SELECT and not 1 <= len(comp.get("options") or []) <= 25:
        form.bad_length((*path, "options"), 1, 25)
    elif ctype == FILE_UPLOAD:
        low, high = _number(comp, "min_values", 1), _number(comp, "max_values", 1)
        if not 0 <= low <= 10 or not 1 <= high <= 10 or low > high:
            form.add((*path, "max_values"), "NUMBER_TYPE_MAX", "min_values 0-10, max_values 1-10, min ≤ max.")
        if len(comp.get("file_types") or []) > 10:
            form.max_length((*path, "file_types"), 10)


class ModalSubmission:
    """Builds a MODAL_SUBMIT's ``data`` from what the user entered, refusing (``ValueError``) whatever the
    client would not let them submit. ``store`` keeps an uploaded file and returns its attachment object."""

    def __init__(
        self, modal: dict[str, Any], store: Callable[[AttachmentSpec], dict[str, Any]], max_file_size: int
    ) -> None:
        self.modal = modal
        self.store = store
        self.max_file_size = max_file_size
        self.used_ids = _explicit_ids(modal.get("components", []))
        self.next_id = 1
        self.inputs: set[str] = set()
        self.attachments: dict[str, dict[str, Any]] = {}

    def data(self, values: Mapping[str, SubmittedValue]) -> dict[str, Any]:
        rows = [self._top(top, values) for top in self.modal.get("components", [])]
        unknown = set(values) - self.inputs
        if unknown:
            raise ValueError(f"modal has no inputs {sorted(unknown)} (has {sorted(self.inputs)})")
        out: dict[str, Any] = {"custom_id": self.modal["custom_id"], "components": rows}
        if self.attachments:
            out["resolved"] = {"attachments": self.attachments}
        return out

    def _id(self, comp: dict[str, Any]) -> int:
        if isinstance(comp.get("id"), int) and comp["id"]:
            return int(comp["id"])
        while self.next_id in self.used_ids:
            self.next_id += 1
        self.used_ids.add(self.next_id)
        return self.next_id

    def _top(self, top: dict[str, Any], values: Mapping[str, SubmittedValue]) -> dict[str, Any]:
        ttype = top["type"]
        if ttype == ACTION_ROW:  # the deprecated layout, answered as before
            (child,) = top["components"]
            return {"type": ACTION_ROW, "components": [{"type": TEXT_INPUT, **self._text(child, values)}]}
        out: dict[str, Any] = {"type": ttype, "id": self._id(top)}
        if ttype == LABEL:
            inner = top["component"]
            component = {"type": inner["type"], "id": self._id(inner)}
            component.update(self._answer(inner, values))
            out["component"] = component
        return out

    def _answer(self, comp: dict[str, Any], values: Mapping[str, SubmittedValue]) -> dict[str, Any]:
        ctype = comp["type"]
        if ctype == TEXT_INPUT:
            return self._text(comp, values)
        if ctype == STRING_SELECT:
            return self._select(comp, values)
        if ctype == FILE_UPLOAD:
            return self._files(comp, values)
        cid = comp["custom_id"]
        self.inputs.add(cid)
        if cid in values or _required(comp):
            raise ValueError(f"modal input {cid!r} (type {ctype}) is not modelled by the emulator")
        return {"custom_id": cid, "values": []}

    def _text(self, comp: dict[str, Any], values: Mapping[str, SubmittedValue]) -> dict[str, Any]:
        cid = comp["custom_id"]
        self.inputs.add(cid)
        value = values.get(cid, comp.get("value") or "")  # untouched, a pre-filled value is sent as it was shown
        if not isinstance(value, str):
            raise ValueError(f"modal input {cid!r} is a text input: give it a string")
        if _required(comp) and not value:
            raise ValueError(f"modal input {cid!r} is required")
        low, high = _number(comp, "min_length", 0), _number(comp, "max_length", 4000)
        if value and not low <= len(value) <= high:
            raise ValueError(f"modal input {cid!r} takes {low} to {high} characters")
        return {"custom_id": cid, "value": value}

    def _select(self, comp: dict[str, Any], values: Mapping[str, SubmittedValue]) -> dict[str, Any]:
        cid = comp["custom_id"]
        self.inputs.add(cid)
        shown = [o["value"] for o in comp.get("options", []) if o.get("default")]
        chosen = values.get(cid, shown)  # untouched, the options marked ``default`` are sent as shown selected
        if isinstance(chosen, str) or not all(isinstance(v, str) for v in chosen):
            raise ValueError(f"modal select {cid!r} takes a list of option values")
        picked = [str(v) for v in chosen]
        low, high = _number(comp, "min_values", 1) if _required(comp) else 0, _number(comp, "max_values", 1)
        if not low <= len(picked) <= high:
            raise ValueError(f"modal select {cid!r} needs between {low} and {high} values")
        allowed = [o["value"] for o in comp.get("options", [])]
        bad = [v for v in picked if v not in allowed]
        if bad:
            raise ValueError(f"modal select {cid!r}: {bad} not among {allowed}")
        return {"custom_id": cid, "values": picked}

    def _files(self, comp: dict[str, Any], values: Mapping[str, SubmittedValue]) -> dict[str, Any]:
        cid = comp["custom_id"]
        self.inputs.add(cid)
        specs = values.get(cid, [])
        if isinstance(specs, str) or not all(isinstance(s, AttachmentSpec) for s in specs):
            raise ValueError(f"modal file upload {cid!r} takes a list of AttachmentSpec")
        uploads = [s for s in specs if isinstance(s, AttachmentSpec)]
        low, high = _number(comp, "min_values", 1) if _required(comp) else 0, _number(comp, "max_values", 1)
        if not low <= len(uploads) <= high:
            raise ValueError(f"modal file upload {cid!r} takes {low} to {high} files")
        ids = []
        for spec in uploads:
            _check_file(cid, spec, comp.get("file_types"), self.max_file_size)
            attachment = {**self.store(spec), "ephemeral": True}
            self.attachments[attachment["id"]] = attachment
            ids.append(attachment["id"])
        return {"custom_id": cid, "values": ids}


def _check_file(cid: str, spec: AttachmentSpec, file_types: list[str] | None, max_file_size: int) -> None:
    if len(spec.data) > max_file_size:
        raise ValueError(f"{spec.filename} is over the user's upload limit ({max_file_size} bytes)")
    if not file_types:
        return
    extension = "." + spec.filename.rsplit(".", 1)[-1].lower() if "." in spec.filename else ""
    kind = (mimetypes.guess_type(spec.filename)[0] or "").split("/")[0]
    if extension not in [t.lower() for t in file_types] and kind not in file_types:
        raise ValueError(f"modal file upload {cid!r} accepts {file_types}; the client does not offer {spec.filename}")


def _required(comp: dict[str, Any]) -> bool:
    """``required`` "defaults to true"."""
    return comp.get("required") is not False


def _number(comp: dict[str, Any], key: str, default: int) -> int:
    """An optional integer field; absent and ``null`` both mean the documented default."""
    value = comp.get(key)
    return default if value is None else int(value)


def _explicit_ids(node: Any) -> set[int]:
    if isinstance(node, list):
        return {i for n in node for i in _explicit_ids(n)}
    if not isinstance(node, dict):
        return set()
    own = {int(node["id"])} if isinstance(node.get("id"), int) and node["id"] else set()
    return own | _explicit_ids(node.get("components") or []) | _explicit_ids(node.get("component") or [])
