"""Message templates: rendering is pure and refuses what config should never contain."""
from __future__ import annotations

import pytest

from speech import (LANGUAGES, PLACEHOLDERS, TemplateError, UnknownLanguage, Utterance, language, placeholders,
                    render, render_message)


@pytest.mark.parametrize("template, values, expected", [
    ("{zone}：请戴好口罩，不要聚集", {"zone": "人民广场"}, "人民广场：请戴好口罩，不要聚集"),
    ("{zone}: {count} people here, the limit is {limit}.", {"zone": "Plaza", "count": 42, "limit": 30},
     "Plaza: 42 people here, the limit is 30."),
    ("No placeholder at all", {}, "No placeholder at all"),
    ("Literal {{braces}} and {zone}", {"zone": "A"}, "Literal {braces} and A"),
    ("{zone}", {"zone": "B", "unused": "ignored"}, "B"),
])
def test_render_fills_known_placeholders(template, values, expected):
    assert render(template, values) == expected


@pytest.mark.parametrize("template, message", [
    ("{place}：请戴好口罩", "unknown placeholder {place}"),
    ("{zone} {0}", "unknown placeholder {0}"),
    ("{zone} {}", "unknown placeholder {}"),
    ("{zone.name}", "unknown placeholder {zone.name}"),
    ("{zone[0]}", "unknown placeholder {zone[0]}"),
    ("{count:>5}", "may not have a format"),
    ("{zone!r}", "may not have a format or conversion"),
    ("{zone", "malformed template"),
    ("zone}", "malformed template"),
    ("", "non-empty"),
    ("   ", "non-empty"),
])
def test_bad_templates_are_refused_with_a_clear_error(template, message):
    with pytest.raises(TemplateError, match=message.replace("{", r"\{").replace("[", r"\[").replace(".", r"\.")):
        placeholders(template)
    with pytest.raises(TemplateError):
        render(template, {"zone": "A", "count": 1, "limit": 2})


def test_unknown_placeholder_error_lists_the_known_ones_and_is_a_value_error():
    with pytest.raises(ValueError) as e:
        placeholders("{where}")
    for name in PLACEHOLDERS:
        assert "{" + name + "}" in str(e.value)


def test_placeholders_lists_what_a_template_uses():
    assert placeholders("{zone}: {count} > {limit}, {zone}") == {"zone", "count", "limit"}
    assert placeholders("plain") == frozenset()


def test_a_placeholder_without_a_value_is_refused():
    with pytest.raises(TemplateError, match=r"needs a value for \{count\}"):
        render("{zone}: {count}", {"zone": "A"})


def test_render_message_gives_one_utterance_per_language_in_order():
    templates = {"zh-cmn": "{zone}：请戴好口罩，不要聚集", "zh-yue": "{zone}：請戴好口罩，唔好聚集",
                 "en": "{zone}: please wear a mask"}
    assert render_message(templates, {"zone": "X"}) == (
        Utterance("X：请戴好口罩，不要聚集", "zh-cmn"), Utterance("X：請戴好口罩，唔好聚集", "zh-yue"),
        Utterance("X: please wear a mask", "en"))


def test_render_message_refuses_an_unknown_language_and_an_empty_message():
    with pytest.raises(UnknownLanguage, match="'fr'.*zh-cmn, zh-yue, en"):
        render_message({"fr": "{zone}"}, {"zone": "X"})
    with pytest.raises(TemplateError, match="at least one language"):
        render_message({}, {"zone": "X"})


def test_language_table_has_mandarin_cantonese_and_english_with_each_engines_code():
    assert {"zh-cmn", "zh-yue", "en"} <= set(LANGUAGES)
    assert (language("zh-cmn").espeak_voice, language("zh-cmn").gtts_lang) == ("cmn-latn-pinyin", "zh")
    assert (language("zh-yue").espeak_voice, language("zh-yue").gtts_lang) == ("yue", "yue")
    assert (language("en").espeak_voice, language("en").gtts_lang) == ("en", "en")
    with pytest.raises(UnknownLanguage):
        language("zh")
