"""The languages the loudspeaker speaks: one table, with each engine's code for each language.

Mandarin goes to espeak-ng as pinyin with tone numbers (voice cmn-latn-pinyin): the cmn/zh voices read
Chinese characters as English letter names. Cantonese goes to espeak-ng's yue voice as characters
(simplified or traditional): checked by the phonemes it prints (`espeak-ng -v yue -x`), which are the
expected jyutping readings (see tests/speech/test_engines.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Mapping

from speech.errors import UnknownLanguage


class EspeakInput(Enum):
    """What espeak-ng is fed for a language."""

    TEXT = "text"          # the text as written
    PINYIN = "pinyin"      # Hanzi converted to pinyin with tone numbers (pypinyin)


@dataclass(frozen=True)
class Language:
    code: str              # our code, used in config and records: "zh-cmn", "zh-yue", "en"
    name: str              # in English, for people
    gtts_lang: str         # gTTS `lang`
    espeak_voice: str      # espeak-ng `-v`
    espeak_input: EspeakInput


LANGUAGES: Mapping[str, Language] = MappingProxyType({
    lang.code: lang for lang in (
        Language("zh-cmn", "Mandarin", gtts_lang="zh", espeak_voice="cmn-latn-pinyin",
                 espeak_input=EspeakInput.PINYIN),
        Language("zh-yue", "Cantonese", gtts_lang="yue", espeak_voice="yue", espeak_input=EspeakInput.TEXT),
        Language("en", "English", gtts_lang="en", espeak_voice="en", espeak_input=EspeakInput.TEXT),
    )
})


def language(code: str) -> Language:
    """The language with this code, or UnknownLanguage naming the known ones."""
    try:
        return LANGUAGES[code]
    except KeyError:
        raise UnknownLanguage(code, tuple(LANGUAGES)) from None
