"""A generated catalog in the exact Kaggle *Spotify Tracks Dataset* format (DEMO DATA).

114 genres (the dataset's real names) in blocks of ``n_per_genre`` rows (1,000
in the real file), index 0..n-1, about 21.3% of rows repeating a track from a
related genre (so ~89.7k distinct track ids at full size). Features come from a
latent model per genre, which plants the correlations analytics should find:

- energy vs acousticness: strongly negative (acousticness uses -1.6 x the
  energy latent);
- energy vs loudness: strongly positive (loudness = -23 + 20 x energy + noise dB);
- valence vs danceability: positive (danceability uses 0.6 x the valence latent);
- valence vs energy, tempo vs energy: weakly positive.

Everything is vectorised numpy from one seeded generator: the same seed gives
the same bytes.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from ..catalog_csv import HEADER, write_catalog_csv
from . import words
from .genres import GENRES, genre_families, genre_profiles

SEED = 20260101
ROWS_PER_GENRE = 1000
DUPLICATE_SHARE = 24_259 / 114_000  # rows repeating a track: 89,741 distinct ids in 114,000
ARTISTS_PER_GENRE = 200
BASE62 = np.frombuffer(
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8
)
NEWLINE_TITLE = "Two Lines\nOne Song"
COLUMNS = ("row_index", *HEADER[1:])


@dataclass(frozen=True)
class Catalog:
    """The generated catalog as columns (numpy arrays, in :data:`COLUMNS` order)."""

    columns: dict[str, np.ndarray]
    original: np.ndarray  # True where the row is a track's first (own-genre) row

    @property
    def num_rows(self) -> int:
        return len(self.columns["track_id"])

    def rows(self) -> Iterator[tuple]:
        """The rows as tuples of plain Python values, ready for :func:`write_catalog_csv`
        (made one at a time)."""
        return zip(*(self.columns[name].tolist() for name in COLUMNS), strict=True)

    def tracks(self) -> dict[str, np.ndarray]:
        """One entry per distinct track (its first row), every column."""
        return {name: values[self.original] for name, values in self.columns.items()}


def generate_catalog(n_per_genre: int = ROWS_PER_GENRE, seed: int = SEED) -> Catalog:
    """Generate the catalog (no I/O)."""
    rng = np.random.default_rng(seed)
    n = n_per_genre * len(GENRES)
    genre = np.repeat(np.arange(len(GENRES)), n_per_genre)
    source, original = _duplicate_sources(rng, genre, n_per_genre)
    columns = _features(rng, genre)
    columns.update(_texts(rng, genre))
    columns["track_id"] = _track_ids(rng, n)
    _edge_cases(columns, original, genre)
    columns = {name: values[source] for name, values in columns.items()}
    columns["row_index"] = np.arange(n)
    columns["track_genre"] = np.array(GENRES, dtype=object)[genre]
    return Catalog({name: columns[name] for name in COLUMNS}, original)


def write_catalog(path: Path, catalog: Catalog) -> Path:
    """Write ``catalog`` to ``path`` as the Kaggle file would hold it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_catalog_csv(path, catalog.rows())
    return path


# -- which rows repeat which track ----------------------------------------------


def _duplicate_sources(
    rng: np.random.Generator, genre: np.ndarray, n_per_genre: int
) -> tuple[np.ndarray, np.ndarray]:
    """For every row, the row whose track it holds (itself for originals)."""
    n_genres = len(GENRES)
    share = np.clip(DUPLICATE_SHARE + rng.normal(0, 0.09, n_genres), 0.02, 0.6)
    counts = _apportion(share, round(DUPLICATE_SHARE * n_genres * n_per_genre), n_per_genre - 1)
    rank = rng.random((n_genres, n_per_genre)).argsort(axis=1).argsort(axis=1)
    duplicate = (rank < counts[:, None]).ravel()
    source = np.arange(len(genre))
    rows = np.flatnonzero(duplicate)
    source[rows] = _pick_sources(rng, genre, duplicate, rows)
    return source, ~duplicate


def _apportion(weights: np.ndarray, total: int, cap: int) -> np.ndarray:
    """Integers proportional to ``weights``, each at most ``cap``, summing to ``total``."""
    exact = np.minimum(weights / weights.sum() * total, cap)
    counts = np.floor(exact).astype(int)
    short = total - counts.sum()
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:short]] += 1
    return np.minimum(counts, cap)


def _pick_sources(
    rng: np.random.Generator, genre: np.ndarray, duplicate: np.ndarray, rows: np.ndarray
) -> np.ndarray:
    """An original row of a related genre (80% same family) for each duplicate row,
    never the same track twice within one genre."""
    family = genre_families()
    originals = np.flatnonzero(~duplicate)
    starts = np.searchsorted(genre[originals], np.arange(len(GENRES) + 1))
    picked = np.empty(len(rows), dtype=np.int64)
    todo = np.arange(len(rows))
    for _ in range(50):
        picked[todo] = _draw_sources(rng, genre[rows[todo]], family, originals, starts)
        pair = genre[rows] * len(genre) + picked
        _, first = np.unique(pair, return_index=True)
        clash = np.ones(len(rows), dtype=bool)
        clash[first] = False
        todo = np.flatnonzero(clash)
        if len(todo) == 0:
            break
    return picked


def _draw_sources(rng, own_genre, family, originals, starts) -> np.ndarray:
    n = len(own_genre)
    members = [np.flatnonzero(family == f) for f in range(family.max() + 1)]
    same = rng.random(n) < 0.8
    offset = rng.random(n)
    other = np.empty(n, dtype=np.int64)
    for f, genres in enumerate(members):
        at = family[own_genre] == f
        other[at] = genres[(offset[at] * len(genres)).astype(int)]
    anywhere = rng.integers(0, len(GENRES), n)
    source_genre = np.where(same, other, anywhere)
    source_genre = np.where(source_genre == own_genre, (own_genre + 1) % len(GENRES), source_genre)
    size = starts[source_genre + 1] - starts[source_genre]
    return originals[starts[source_genre] + (rng.random(n) * size).astype(int)]


# -- audio features ---------------------------------------------------------------


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-3, 1 - 1e-3)
    return np.log(p / (1 - p))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _significant(x: np.ndarray, digits: int = 3) -> np.ndarray:
    """Round to ``digits`` significant digits, the way the real file's features look."""
    magnitude = np.floor(np.log10(np.where(x > 0, x, 1.0)))
    scale = 10.0 ** (digits - 1 - magnitude)
    return np.where(x > 0, np.round(x * scale) / scale, 0.0)


def _features(rng: np.random.Generator, genre: np.ndarray) -> dict[str, np.ndarray]:
    n = len(genre)
    p = {name: values[genre] for name, values in genre_profiles().items()}
    energy_z, valence_z = rng.normal(size=n), rng.normal(size=n)
    energy = _sigmoid(_logit(p["energy"]) + 0.9 * energy_z)
    acoustic = _sigmoid(_logit(p["acoustic"]) - 1.6 * energy_z + 1.4 * rng.normal(size=n))
    valence = _sigmoid(_logit(p["valence"]) + 0.9 * valence_z + 0.35 * energy_z)
    dance = _sigmoid(_logit(p["dance"]) + 0.4 * valence_z + 0.7 * rng.normal(size=n))
    loudness = np.clip(-23 + 20 * energy + rng.normal(0, 3.5, n), -49.5, 4.5)
    tempo = np.clip(p["tempo"] + 8 * energy_z + rng.normal(0, 24, n), 45, 220)
    silent = rng.random(n) < np.where(p["energy"] < 0.3, 0.01, 0.0008)
    time_signature = rng.choice(np.array([4, 3, 5, 1]), n, p=[0.89, 0.08, 0.02, 0.01])
    return {
        "popularity": _popularity(rng, p["popularity"]),
        "duration_ms": _durations(rng, p["instrumental"]),
        "explicit": rng.random(n) < p["explicit"],
        "danceability": _significant(dance),
        "energy": _significant(energy),
        "key": rng.integers(0, 12, n),
        "loudness": np.round(loudness, 3),
        "mode": (rng.random(n) < 0.64).astype(np.int64),
        "speechiness": _significant(_sigmoid(_logit(p["speech"]) + 0.6 * rng.normal(size=n))),
        "acousticness": _significant(np.minimum(acoustic, 0.996)),
        "instrumentalness": _instrumentalness(rng, p["instrumental"]),
        "liveness": _significant(_sigmoid(_logit(p["liveness"]) + 0.7 * rng.normal(size=n))),
        "valence": _significant(valence),
        "tempo": np.where(silent, 0.0, np.round(tempo, 3)),
        "time_signature": np.where(silent, 0, time_signature),
    }


def _instrumentalness(rng: np.random.Generator, share: np.ndarray) -> np.ndarray:
    n = len(share)
    instrumental = _sigmoid(rng.normal(1.6, 1.0, n))
    vocal = 10.0 ** rng.uniform(-6.5, -2.0, n)
    vocal = np.where(rng.random(n) < 0.3, 0.0, vocal)
    return _significant(np.where(rng.random(n) < share, instrumental, vocal))


def _popularity(rng: np.random.Generator, mean: np.ndarray) -> np.ndarray:
    popularity = np.clip(np.round(rng.normal(mean, 18)), 0, 100).astype(np.int64)
    return np.where(rng.random(len(mean)) < 0.1, 0, popularity)


def _durations(rng: np.random.Generator, instrumental: np.ndarray) -> np.ndarray:
    median = 205_000 + 90_000 * instrumental
    return np.round(median * np.exp(rng.normal(0, 0.3, len(median)))).astype(np.int64) + 8_000


def _track_ids(rng: np.random.Generator, n: int) -> np.ndarray:
    codes = BASE62[rng.integers(0, 62, (n, 22))]
    return codes.view("S22").ravel().astype("U22").astype(object)


# -- names ------------------------------------------------------------------------------


def _texts(rng: np.random.Generator, genre: np.ndarray) -> dict[str, np.ndarray]:
    n = len(genre)
    pool = _artist_names(rng, len(GENRES) * ARTISTS_PER_GENRE)
    main = genre * ARTISTS_PER_GENRE + (ARTISTS_PER_GENRE * rng.random(n) ** 1.7).astype(int)
    guest = rng.integers(0, len(pool), (2, n))
    n_guests = rng.choice(np.array([0, 1, 2]), n, p=[0.84, 0.12, 0.04])
    artists = pool[main]
    many = np.flatnonzero(n_guests > 0)
    artists[many] = [
        ";".join(pool[[a, b, c][: k + 1]])
        for a, b, c, k in zip(
            main[many].tolist(),
            guest[0, many].tolist(),
            guest[1, many].tolist(),
            n_guests[many].tolist(),
            strict=True,
        )
    ]
    titles = _titles(rng, n)
    feat = many[rng.random(len(many)) < 0.4]
    titles[feat] = [
        f"{title} (feat. {pool[g]})"
        for title, g in zip(titles[feat].tolist(), guest[0, feat].tolist(), strict=True)
    ]
    single = rng.random(n) < 0.35
    return {
        "artists": artists,
        "track_name": titles,
        "album_name": np.where(single, titles, _albums(rng, n)),
    }


def _compose(
    rng: np.random.Generator, n: int, forms: list[tuple[float, str, tuple[tuple[str, ...], ...]]]
) -> np.ndarray:
    """``n`` strings, each from a template drawn with its probability; every ``{}`` in a
    template takes a random entry of the matching word list."""
    kind = rng.choice(len(forms), n, p=[share for share, _, _ in forms])
    out = np.empty(n, dtype=object)
    for k, (_, template, lists) in enumerate(forms):
        at = np.flatnonzero(kind == k)
        sizes = tuple(len(words_) for words_ in lists)
        picks = tuple(rng.integers(0, size, len(at)) for size in sizes)
        out[at] = _vocabulary(template, lists)[np.ravel_multi_index(picks, sizes)]
    return out


@cache
def _vocabulary(template: str, lists: tuple[tuple[str, ...], ...]) -> np.ndarray:
    """Every string ``template`` can make from ``lists``, in row-major order."""
    combos = itertools.product(*lists)
    return np.array([template.format(*combo) for combo in combos], dtype=object)


def _artist_names(rng: np.random.Generator, n: int) -> np.ndarray:
    w = words.lists()
    return _compose(
        rng,
        n,
        [
            (0.45, "{} {}", (w.first, w.last)),
            (0.20, "The {} {}", (w.adjective, w.group)),
            (0.15, "{} {}", (w.adjective, w.noun)),
            (0.12, "{} & the {}", (w.first, w.group)),
            (0.08, "DJ {}", (w.noun,)),
        ],
    )


def _titles(rng: np.random.Generator, n: int) -> np.ndarray:
    w = words.lists()
    return _compose(
        rng,
        n,
        [
            (0.30, "{} {}", (w.adjective, w.noun)),
            (0.14, "{} in {}", (w.verb, w.place)),
            (0.14, "{} of {}", (w.noun, w.noun)),
            (0.12, "{}", (w.noun,)),
            (0.10, "{} and the {}", (w.noun, w.group)),
            (0.06, "{} {} - Remastered {}", (w.verb, w.noun, w.year)),
            (0.05, "{}, {} and Me", (w.noun, w.noun)),
            (0.03, "{} {} - Live", (w.adjective, w.noun)),
            (0.02, 'The "{}" Song', (w.noun,)),
            (0.02, "{}", (w.japanese,)),
            (0.02, "{}, Pt. 2", (w.noun,)),
        ],
    )


def _albums(rng: np.random.Generator, n: int) -> np.ndarray:
    w = words.lists()
    return _compose(
        rng,
        n,
        [
            (0.6, "{} {}", (w.adjective, w.noun)),
            (0.3, "{}s", (w.noun,)),
            (0.1, "{} {} (Deluxe Edition)", (w.adjective, w.noun)),
        ],
    )


def _edge_cases(columns: dict[str, np.ndarray], original: np.ndarray, genre: np.ndarray) -> None:
    """One title with a newline (the first original row of ``chill``)."""
    row = np.flatnonzero(original & (genre == GENRES.index("chill")))[0]
    columns["track_name"][row] = NEWLINE_TITLE
