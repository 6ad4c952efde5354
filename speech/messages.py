"""Loudspeaker messages: templates per zone and language, rendered by pure functions.

A template is text with named placeholders, e.g. "{zone}：请戴好口罩，不要聚集". Only the placeholders in
PLACEHOLDERS may appear; "{{" and "}}" are literal braces. Config validation calls `placeholders()` (or
`render_message()` with sample values) so a bad template is refused when the config is loaded, not when
the drone is over a crowd.
"""
from __future__ import annotations

import string
from types import MappingProxyType
from typing import Mapping

from speech.errors import TemplateError
from speech.languages import language
from speech.records import Utterance

PLACEHOLDERS: Mapping[str, str] = MappingProxyType({
    "zone": "the zone's name, as it is spoken",
    "count": "the number of people counted in the zone",
    "limit": "the zone's safe number of people",
})


def _parse(template: str) -> list[tuple[str, str | None]]:
    """(literal text, placeholder name or None) pieces; TemplateError when malformed or unknown."""
    if not isinstance(template, str) or not template.strip():
        raise TemplateError(f"a message template must be non-empty text, got {template!r}")
    try:
        pieces = list(string.Formatter().parse(template))
    except ValueError as e:
        raise TemplateError(f"malformed template {template!r}: {e} (write {{{{ and }}}} for literal braces)") from None
    out: list[tuple[str, str | None]] = []
    known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
    for literal, name, spec, conversion in pieces:
        if name is None:
            out.append((literal, None))
            continue
        shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
        if name not in PLACEHOLDERS:
            raise TemplateError(f"template {template!r}: unknown placeholder {shown}; known placeholders: {known}")
        if spec or conversion:
            raise TemplateError(f"template {template!r}: placeholder {shown} may not have a format or conversion; "
                                f"write {{{name}}}")
        out.append((literal, name))
    return out


def placeholders(template: str) -> frozenset[str]:
    """The placeholder names a template uses; TemplateError if it is malformed or names an unknown one."""
    return frozenset(name for _, name in _parse(template) if name is not None)


def render(template: str, values: Mapping[str, object]) -> str:
    """The template with its placeholders filled from values (extra values are ignored)."""
    parts: list[str] = []
    for literal, name in _parse(template):
        parts.append(literal)
        if name is not None:
            if name not in values:
                raise TemplateError(f"template {template!r} needs a value for {{{name}}}")
            parts.append(str(values[name]))
    return "".join(parts)


def render_message(templates: Mapping[str, str], values: Mapping[str, object]) -> tuple[Utterance, ...]:
    """One utterance per language, in the mapping's order; UnknownLanguage for a language not in the table."""
    if not templates:
        raise TemplateError("a message needs a template in at least one language")
    return tuple(Utterance(render(template, values), language(code).code) for code, template in templates.items())
