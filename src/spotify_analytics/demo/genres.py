"""The 114 genres of the Kaggle Spotify Tracks Dataset and a feature profile for each.

The order is the file's block order (not strictly alphabetical: ``indie-pop``
comes before ``indie``, ``pop-film`` before ``pop``).

Profiles are (DEMO DATA) means for the generator: a family default plus
per-genre overrides. Families also define which genres are *related*: a track
repeated under another genre usually comes from the same family.
"""

from __future__ import annotations

import numpy as np

GENRES: tuple[str, ...] = (
    "acoustic",
    "afrobeat",
    "alt-rock",
    "alternative",
    "ambient",
    "anime",
    "black-metal",
    "bluegrass",
    "blues",
    "brazil",
    "breakbeat",
    "british",
    "cantopop",
    "chicago-house",
    "children",
    "chill",
    "classical",
    "club",
    "comedy",
    "country",
    "dance",
    "dancehall",
    "death-metal",
    "deep-house",
    "detroit-techno",
    "disco",
    "disney",
    "drum-and-bass",
    "dub",
    "dubstep",
    "edm",
    "electro",
    "electronic",
    "emo",
    "folk",
    "forro",
    "french",
    "funk",
    "garage",
    "german",
    "gospel",
    "goth",
    "grindcore",
    "groove",
    "grunge",
    "guitar",
    "happy",
    "hard-rock",
    "hardcore",
    "hardstyle",
    "heavy-metal",
    "hip-hop",
    "honky-tonk",
    "house",
    "idm",
    "indian",
    "indie-pop",
    "indie",
    "industrial",
    "iranian",
    "j-dance",
    "j-idol",
    "j-pop",
    "j-rock",
    "jazz",
    "k-pop",
    "kids",
    "latin",
    "latino",
    "malay",
    "mandopop",
    "metal",
    "metalcore",
    "minimal-techno",
    "mpb",
    "new-age",
    "opera",
    "pagode",
    "party",
    "piano",
    "pop-film",
    "pop",
    "power-pop",
    "progressive-house",
    "psych-rock",
    "punk-rock",
    "punk",
    "r-n-b",
    "reggae",
    "reggaeton",
    "rock-n-roll",
    "rock",
    "rockabilly",
    "romance",
    "sad",
    "salsa",
    "samba",
    "sertanejo",
    "show-tunes",
    "singer-songwriter",
    "ska",
    "sleep",
    "songwriter",
    "soul",
    "spanish",
    "study",
    "swedish",
    "synth-pop",
    "tango",
    "techno",
    "trance",
    "trip-hop",
    "turkish",
    "world-music",
)

FAMILIES: dict[str, str] = {
    "metal": "black-metal death-metal grindcore heavy-metal metal metalcore hardcore "
    "industrial goth",
    "rock": "alt-rock alternative british garage grunge hard-rock psych-rock punk punk-rock "
    "rock rock-n-roll rockabilly emo j-rock ska power-pop indie",
    "dance": "breakbeat chicago-house club dance deep-house detroit-techno drum-and-bass dub "
    "dubstep edm electro electronic hardstyle house idm minimal-techno progressive-house "
    "techno trance trip-hop j-dance party synth-pop disco groove funk",
    "pop": "pop indie-pop k-pop j-pop j-idol cantopop mandopop pop-film swedish german french "
    "spanish malay turkish iranian indian anime happy",
    "calm": "acoustic ambient chill classical new-age piano sleep study opera sad guitar "
    "romance singer-songwriter songwriter folk",
    "urban": "hip-hop r-n-b soul gospel dancehall reggae reggaeton afrobeat",
    "latin": "latin latino salsa samba pagode sertanejo forro mpb brazil tango",
    "roots": "blues country honky-tonk jazz show-tunes disney children kids comedy bluegrass "
    "world-music",
}

PARAMS = (
    "energy",
    "acoustic",
    "valence",
    "dance",
    "instrumental",
    "speech",
    "tempo",
    "popularity",
    "explicit",
    "liveness",
)

FAMILY_PROFILE: dict[str, tuple[float, ...]] = {
    "metal": (0.90, 0.02, 0.28, 0.42, 0.25, 0.09, 130, 30, 0.15, 0.20),
    "rock": (0.75, 0.10, 0.50, 0.50, 0.05, 0.05, 125, 38, 0.10, 0.18),
    "dance": (0.80, 0.05, 0.45, 0.68, 0.45, 0.07, 126, 33, 0.08, 0.16),
    "pop": (0.66, 0.25, 0.52, 0.62, 0.03, 0.06, 118, 42, 0.12, 0.16),
    "calm": (0.30, 0.75, 0.32, 0.45, 0.45, 0.04, 105, 32, 0.02, 0.12),
    "urban": (0.66, 0.15, 0.56, 0.72, 0.02, 0.14, 108, 40, 0.35, 0.17),
    "latin": (0.72, 0.25, 0.68, 0.68, 0.02, 0.07, 120, 36, 0.10, 0.20),
    "roots": (0.50, 0.45, 0.55, 0.56, 0.05, 0.05, 115, 30, 0.03, 0.20),
}

OVERRIDES: dict[str, dict[str, float]] = {
    "sleep": dict(
        energy=0.08, acoustic=0.85, instrumental=0.92, valence=0.10, dance=0.25, tempo=85
    ),
    "classical": dict(energy=0.16, acoustic=0.95, instrumental=0.85, valence=0.22, dance=0.30),
    "piano": dict(energy=0.14, acoustic=0.96, instrumental=0.85, valence=0.24, dance=0.38),
    "ambient": dict(energy=0.20, acoustic=0.75, instrumental=0.85, valence=0.14, dance=0.35),
    "new-age": dict(energy=0.20, acoustic=0.80, instrumental=0.70, valence=0.20),
    "study": dict(energy=0.30, acoustic=0.70, instrumental=0.85, valence=0.35, dance=0.64),
    "opera": dict(energy=0.25, acoustic=0.90, instrumental=0.05, valence=0.22, dance=0.28),
    "sad": dict(
        energy=0.35, acoustic=0.55, instrumental=0.02, valence=0.24, popularity=52, explicit=0.2
    ),
    "chill": dict(energy=0.45, acoustic=0.45, valence=0.45, dance=0.64, instrumental=0.15),
    "acoustic": dict(energy=0.40, acoustic=0.70, instrumental=0.02, valence=0.45),
    "guitar": dict(energy=0.32, acoustic=0.78, instrumental=0.55, valence=0.40),
    "romance": dict(energy=0.32, acoustic=0.72, instrumental=0.03, valence=0.42),
    "singer-songwriter": dict(energy=0.38, acoustic=0.62, instrumental=0.03, valence=0.42),
    "songwriter": dict(energy=0.38, acoustic=0.62, instrumental=0.03, valence=0.44),
    "folk": dict(energy=0.42, acoustic=0.62, instrumental=0.05, valence=0.46),
    "comedy": dict(
        speech=0.85,
        liveness=0.70,
        energy=0.65,
        acoustic=0.80,
        valence=0.55,
        instrumental=0.0,
        tempo=100,
        explicit=0.45,
        dance=0.55,
    ),
    "hip-hop": dict(speech=0.25, explicit=0.60, dance=0.74, popularity=48),
    "r-n-b": dict(speech=0.12, explicit=0.35, energy=0.58, valence=0.50),
    "soul": dict(energy=0.52, acoustic=0.35, valence=0.55, explicit=0.05),
    "gospel": dict(energy=0.50, acoustic=0.40, valence=0.50, explicit=0.0),
    "dancehall": dict(valence=0.70, dance=0.76, tempo=96),
    "reggae": dict(valence=0.72, dance=0.74, tempo=92, energy=0.58),
    "reggaeton": dict(dance=0.76, explicit=0.30, valence=0.62, popularity=48),
    "grindcore": dict(energy=0.96, valence=0.20),
    "black-metal": dict(energy=0.90, valence=0.14, instrumental=0.45),
    "death-metal": dict(energy=0.93, valence=0.18),
    "goth": dict(energy=0.62, valence=0.30, acoustic=0.10),
    "industrial": dict(energy=0.84, valence=0.26),
    "hardcore": dict(energy=0.93, valence=0.32),
    "children": dict(valence=0.72, energy=0.55, acoustic=0.42, explicit=0.0, speech=0.08),
    "kids": dict(valence=0.74, energy=0.58, acoustic=0.38, explicit=0.0, speech=0.09),
    "disney": dict(valence=0.58, energy=0.48, acoustic=0.45, explicit=0.0, popularity=40),
    "party": dict(energy=0.82, valence=0.66, dance=0.70, instrumental=0.05),
    "salsa": dict(valence=0.80, dance=0.70),
    "samba": dict(valence=0.76, dance=0.66),
    "forro": dict(valence=0.78, dance=0.64),
    "pagode": dict(valence=0.74, dance=0.66, acoustic=0.40),
    "tango": dict(energy=0.35, acoustic=0.80, instrumental=0.30, valence=0.45, dance=0.58),
    "mpb": dict(energy=0.48, acoustic=0.55, valence=0.55),
    "idm": dict(energy=0.60, instrumental=0.65, valence=0.30, dance=0.55),
    "trip-hop": dict(energy=0.50, valence=0.30, instrumental=0.40),
    "hardstyle": dict(energy=0.93, tempo=150),
    "drum-and-bass": dict(energy=0.88, tempo=172),
    "dubstep": dict(energy=0.86, tempo=140),
    "trance": dict(tempo=138, instrumental=0.55),
    "minimal-techno": dict(instrumental=0.75, valence=0.34, energy=0.70),
    "detroit-techno": dict(instrumental=0.70, valence=0.38),
    "techno": dict(instrumental=0.65, valence=0.36, energy=0.82),
    "disco": dict(valence=0.76, dance=0.72, instrumental=0.05),
    "funk": dict(valence=0.72, dance=0.72, instrumental=0.08),
    "groove": dict(valence=0.70, dance=0.74, instrumental=0.05),
    "synth-pop": dict(energy=0.70, valence=0.55, instrumental=0.08),
    "jazz": dict(energy=0.34, acoustic=0.72, instrumental=0.35, valence=0.50, dance=0.55),
    "blues": dict(energy=0.55, valence=0.55, acoustic=0.35),
    "bluegrass": dict(energy=0.50, acoustic=0.72, valence=0.62, tempo=125),
    "world-music": dict(energy=0.45, acoustic=0.55),
    "show-tunes": dict(energy=0.45, acoustic=0.50, speech=0.08),
    "country": dict(energy=0.62, acoustic=0.25, valence=0.58, popularity=40),
    "honky-tonk": dict(energy=0.55, acoustic=0.40, valence=0.66),
    "emo": dict(energy=0.80, valence=0.34),
    "k-pop": dict(energy=0.78, valence=0.60, dance=0.68, popularity=46),
    "j-idol": dict(energy=0.82, valence=0.62, dance=0.60),
    "j-dance": dict(energy=0.80, valence=0.58),
    "anime": dict(energy=0.76, valence=0.50),
    "pop": dict(popularity=56, valence=0.55),
    "happy": dict(valence=0.78, energy=0.76, dance=0.66),
    "indie": dict(energy=0.58, acoustic=0.30, valence=0.44),
    "indie-pop": dict(energy=0.60, valence=0.50),
    "ska": dict(valence=0.76, energy=0.82),
    "rock-n-roll": dict(valence=0.74, energy=0.70, acoustic=0.35),
    "rockabilly": dict(valence=0.74, energy=0.72, acoustic=0.35),
    "punk": dict(energy=0.88, valence=0.45),
    "punk-rock": dict(energy=0.88, valence=0.45),
    "psych-rock": dict(instrumental=0.22),
    "afrobeat": dict(dance=0.72, valence=0.70, instrumental=0.10),
}


def genre_families() -> np.ndarray:
    """The family index of each genre, aligned with :data:`GENRES`."""
    names = list(FAMILIES)
    of = {
        genre: names.index(family)
        for family, members in FAMILIES.items()
        for genre in members.split()
    }
    missing = [genre for genre in GENRES if genre not in of]
    if missing:
        raise AssertionError(f"genres without a family: {missing}")
    return np.array([of[genre] for genre in GENRES])


def genre_profiles() -> dict[str, np.ndarray]:
    """Per-genre profile arrays (one value per genre), by parameter name."""
    families = list(FAMILIES)
    family_of = genre_families()
    table = np.array(
        [
            [
                OVERRIDES.get(genre, {}).get(name, FAMILY_PROFILE[families[family_of[g]]][p])
                for p, name in enumerate(PARAMS)
            ]
            for g, genre in enumerate(GENRES)
        ],
        dtype=float,
    )
    return {name: table[:, p] for p, name in enumerate(PARAMS)}
