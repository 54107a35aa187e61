"""Word lists for demo titles, artists and albums (all invented; DEMO DATA).

A few entries carry non-ASCII letters on purpose, so the demo exercises unicode
folding in catalog matching.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

FIRST_NAMES = (
    "Mara Jonas Lena Theo Ines Malik Nora Elias Zoë Amir Freya Oskar Lucía Kenji Aiko Ravi "
    "Priya Tomás Sofia Emil Hana Jun Mei Lars Björn Søren Chloé Noah Ada Felix Yara Omar "
    "Leila Hugo Iris Milo Esme Kai Luca Rosa Ivan Olga Nina Paulo Ana Dario Maya Soren "
    "Juno Cleo Ezra Alma Otto Wren Ines Remy Tara Bea Cato Dora"
)
LAST_NAMES = (
    "Lindqvist Moreau Okafor Tanaka Kowalski Brandt Silva Novak Haddad Fischer Rossi Costa "
    "Nakamura Berg Dubois Petrov Jansen Müller Sato Varga Navarro Holm Keller Duarte Ishii "
    "Castell Marlow Quinn Vance Hale Rhee Strand Falk Ortega Baptiste Yilmaz Adeyemi "
    "Kaur Mendes Park Weiß Åkesson Ferreira Lund Rivera Okoro Bauer Ito Laurent"
)
ADJECTIVES = (
    "Velvet Golden Silent Electric Broken Neon Paper Hollow Crimson Gentle Wild Quiet "
    "Midnight Lucky Frozen Burning Distant Secret Lonely Bright Restless Faded Hidden "
    "Endless Silver Little Fragile Sleepless Tender Northern Blue Savage Lazy Sweet Bitter "
    "Empty Heavy Open Shining Wandering Falling Rising Glass Ocean Dusty Painted Sacred "
    "Analog Cosmic Atomic Sunny"
)
NOUNS = (
    "Heart River Night Dream Fire City Moon Road Rain Shadow Light Ocean Garden Mirror "
    "Signal Engine Summer Winter Echo Storm Star Wave Bridge Window Ghost Machine Forest "
    "Island Desert Valley Harbor Skyline Letter Promise Memory Season Horizon Thunder "
    "Feather Compass Lantern Orbit Pulse Circuit Tide Ember Meadow Café Straße Niño "
    "Kingdom Avenue Satellite Runway Paradise Cathedral Carousel Tokyo Berlin Lisbon"
)
VERBS = (
    "Dancing Running Falling Waiting Holding Chasing Calling Breathing Drifting Burning "
    "Dreaming Singing Leaving Coming Floating Moving Shining Fading Turning Walking"
)
PLACES = (
    "the Dark,the Light,the Sea,the Sun,the Stars,the Rain,the Fire,the City,the Dawn,"
    "the Crowd,the Radio,the Wire,the Storm,the Edge,the Moon"
)
GROUP_NOUNS = (
    "Owls Foxes Wolves Ravens Comets Pilots Sailors Tigers Ghosts Rebels Dreamers Arrows "
    "Saints Monarchs Lanterns Machines Satellites Strangers Kings Orchids"
)
JAPANESE = "夜空 さくら 東京の夜 青い鳥 花火 雨音 星屑 月光"


@dataclass(frozen=True)
class WordLists:
    first: tuple[str, ...]
    last: tuple[str, ...]
    adjective: tuple[str, ...]
    noun: tuple[str, ...]
    verb: tuple[str, ...]
    place: tuple[str, ...]
    group: tuple[str, ...]
    japanese: tuple[str, ...]
    year: tuple[str, ...]


@cache
def lists() -> WordLists:
    """The word lists as tuples (hashable, so compositions can be cached)."""
    return WordLists(
        first=tuple(FIRST_NAMES.split()),
        last=tuple(LAST_NAMES.split()),
        adjective=tuple(ADJECTIVES.split()),
        noun=tuple(NOUNS.split()),
        verb=tuple(VERBS.split()),
        place=tuple(PLACES.split(",")),
        group=tuple(GROUP_NOUNS.split()),
        japanese=tuple(JAPANESE.split()),
        year=tuple(str(year) for year in range(1995, 2016)),
    )
