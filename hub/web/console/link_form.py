"""The console's "Link a shop" form, built from a connector's ``link_fields`` as its config
schema declares them (the ``oauth_link`` capability, ``connectors.base``):

* a secret field (``metadata={"secret": True}``) is a password input, never echoed back;
* a field with a ``OneOf`` validator is a select of its choices;
* a list field whose default is a list of values (scopes) is a set of checkboxes, all
  ticked at first; at least one must stay ticked;
* a URL field is a URL input; anything else a text input.

The label is ``metadata["label"]`` (else the key, spaced), the hint its ``description``.
"""
from __future__ import annotations

from dataclasses import dataclass

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from marshmallow import fields as mf
from marshmallow import validate

MAX_FIELD = 2000
NAME_HINT = _l("What the hub calls this shop.")


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    widget: str                     # text | password | url | select | checks
    required: bool = False
    hint: str = ""
    placeholder: str = ""
    choices: tuple[str, ...] = ()
    default: object = None


def _field(key: str, field: mf.Field) -> FormField:
    meta = field.metadata
    label = meta.get("label") or key.replace("_", " ").capitalize()
    hint = meta.get("description") or ""
    default = None if field.load_default is mf.missing_ else field.load_default
    one_of = next((v for v in field.validators if isinstance(v, validate.OneOf)), None)
    if meta.get("secret"):
        return FormField(key, label, "password", field.required,
                         _hinted(hint, _("Stored encrypted.")))
    if one_of is not None:
        return FormField(key, label, "select", field.required, hint,
                         choices=tuple(str(c) for c in one_of.choices), default=default)
    if isinstance(field, mf.List) and isinstance(default, (list, tuple)) and default:
        return FormField(key, label, "checks", True, hint, choices=tuple(default),
                         default=list(default))
    widget = "url" if isinstance(field, mf.Url) else "text"
    placeholder = default if isinstance(default, str) else ""
    if placeholder:
        hint = _hinted(hint, _("Leave empty for the default."))
    return FormField(key, label, widget, field.required, hint, placeholder)


def _hinted(hint: str, more: str) -> str:
    return f"{hint.rstrip('.')}. {more}" if hint else more


def form_fields(cls) -> list[FormField]:
    """The shop's name, then the connector's link fields."""
    declared = cls.config_schema().declared_fields
    return [FormField("name", _("Shop name"), "text", True, str(NAME_HINT))] + \
        [_field(key, declared[key]) for key in cls.link_fields]


def form_values(fields: list[FormField], form) -> tuple[dict, dict]:
    """(values, errors) of a posted form; checkbox values outside the choices are dropped."""
    values, errors = {}, {}
    for f in fields:
        if f.widget == "checks":
            values[f.name] = [v for v in form.getlist(f.name) if v in f.choices]
            if not values[f.name]:
                errors[f.name] = [_("Choose at least one.")]
        else:
            values[f.name] = form.get(f.name, "").strip()[:MAX_FIELD]
    return values, errors


def visible_values(fields: list[FormField], values: dict | None) -> dict:
    """What the page may show again: no secret, defaults where nothing was given."""
    values = values or {}
    shown = {}
    for f in fields:
        if f.widget == "password":
            continue
        given = values.get(f.name)
        if f.widget == "checks":
            shown[f.name] = f.default if given is None else given
        elif f.widget == "select":
            shown[f.name] = given or f.default
        else:
            shown[f.name] = given or ""
    return shown
