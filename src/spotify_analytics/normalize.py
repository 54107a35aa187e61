"""Text normalisation for matching played tracks to catalog tracks by name.

``normalize_title("Song (feat. X) - Remastered 2011") == "song"`` and
``normalize_artist("Beyoncé feat. JAY-Z") == "beyonce"``. The steps, in order:
unicode NFKD with accents (combining marks) removed, case-folded; featured
artists removed; version suffixes (" - Remastered 2011", " - Live", " - Radio
Edit", ...) and bracketed parts removed (titles only); punctuation turned into
spaces (apostrophes dropped: "don't" -> "dont"); whitespace collapsed.
"""

from __future__ import annotations

import re
import unicodedata

_FEATURING = re.compile(r"\s+(?:feat\.?|ft\.?|featuring)\s.*$")
_BRACKETS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]|\{[^{}]*\}")
_VERSION_WORDS = (
    r"remaster(?:ed)?|live|radio edit|edit|version|mono|stereo|single|acoustic|demo|"
    r"bonus|instrumental|extended|original|deluxe|recorded|session|unplugged|from|"
    r"anniversary|explicit|clean"
)
_VERSION_SUFFIX = re.compile(
    rf"\s+[-\u2013\u2014]\s+(?:[^-\u2013\u2014]*\b(?:{_VERSION_WORDS})\b.*)$"
)
_APOSTROPHES = re.compile(r"['\u2019\u2018`\u00b4]")
_NON_WORD = re.compile(r"[\W_]+")


def fold(text: str | None) -> str:
    """Unicode-fold: NFKD, combining marks removed, case-folded, spaces collapsed."""
    if not text:
        return ""
    if text.isascii():  # its own NFKD form, without combining marks; casefold is lower
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def _words(text: str) -> str:
    text = _APOSTROPHES.sub("", text)
    return " ".join(_NON_WORD.sub(" ", text).split())


def normalize_title(title: str | None) -> str:
    """A track title reduced to the words that identify the song."""
    text = fold(title)
    previous = None
    while previous != text:  # suffixes and brackets can nest: "X (Live) - Remastered"
        previous = text
        text = _VERSION_SUFFIX.sub("", text)
        text = _BRACKETS.sub(" ", text)
        text = _FEATURING.sub("", text)
        text = " ".join(text.split())
    words = _words(text)
    return words or _words(fold(title))  # a title that is all brackets keeps its words


def normalize_artist(artist: str | None) -> str:
    """An artist name folded, without featured artists ("A feat. B" -> "a")."""
    text = _FEATURING.sub("", fold(artist))
    return _words(text)


def primary_artist(artists: str | None) -> str:
    """The normalised first artist of a catalog ``artists`` field ("A;B" -> "a")."""
    return normalize_artist((artists or "").split(";", 1)[0])
