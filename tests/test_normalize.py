"""Name normalisation and name matching against the catalog."""

from __future__ import annotations

import pyarrow as pa
import pytest

from spotify_analytics.normalize import fold, normalize_artist, normalize_title, primary_artist
from spotify_analytics.steps.track_catalog_matches import match_tracks


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Song (feat. X) - Remastered 2011", "song"),
        ("Song - Remastered", "song"),
        ("Song - Remaster", "song"),
        ("Song - 2011 Remaster", "song"),
        ("Song - Live", "song"),
        ("Song - Live at Wembley 1986", "song"),
        ("Song - Radio Edit", "song"),
        ("Song - Single Version", "song"),
        ("Song [Remastered]", "song"),
        ("Song ft. Someone", "song"),
        ("Song featuring Someone Else", "song"),
        ('Haan Main Galat (From "Love Aaj Kal")', "haan main galat"),
        ("(I Can't Get No) Satisfaction - Mono Version", "satisfaction"),
        ("Don't Stop Me Now", "dont stop me now"),
        ("Señorita", "senorita"),
        ("MÖTLEY   crüe", "motley crue"),
        ("Ｆｕｌｌｗｉｄｔｈ", "fullwidth"),
        ("Straße", "strasse"),
        ("Dancing with Myself", "dancing with myself"),
        ("Another Brick in the Wall, Pt. 2", "another brick in the wall pt 2"),
        ("Song - Remix", "song remix"),  # a remix is another recording: kept apart
        ("[Intro]", "intro"),
        ("", ""),
        (None, ""),
    ],
)
def test_normalize_title(title: str | None, expected: str) -> None:
    assert normalize_title(title) == expected


def test_normalize_artist_and_primary_artist() -> None:
    assert normalize_artist("Beyoncé feat. JAY-Z") == "beyonce"
    assert normalize_artist("Sigur Rós") == "sigur ros"
    assert normalize_artist("Simon & Garfunkel") == "simon garfunkel"  # '&' is not a split
    assert primary_artist("Simon & Garfunkel;Someone") == "simon garfunkel"
    assert primary_artist(None) == ""
    assert fold("  ÉCOLE  Été ") == "ecole ete"


def test_ascii_text_folds_as_the_unicode_path_does() -> None:
    """ASCII text skips the NFKD and combining-mark pass (its own NFKD form):
    the result is the general path's, for every printable and control character."""
    import random
    import string
    import unicodedata

    def unicode_fold(text: str) -> str:
        decomposed = unicodedata.normalize("NFKD", text)
        stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
        return " ".join(stripped.casefold().split())

    rng = random.Random(7)
    alphabet = string.printable + "\x00\x1c\x1f\x7f"
    texts = ["".join(rng.choices(alphabet, k=rng.randint(1, 16))) for _ in range(20_000)]
    for text in [*texts, "The  B-52's\t", "AC/DC", "\x1c\x1d\x1e\x1f"]:
        assert fold(text) == unicode_fold(text), repr(text)


def _catalog(rows: list[tuple[str, str, str]]) -> pa.Table:
    ids, artists, titles = zip(*rows, strict=True)
    return pa.table({"track_id": ids, "artist_name": artists, "track_name": titles})


def _played(artist: str, title: str, key: str = "k") -> dict:
    return {"track_key": key, "artist_name": artist, "track_name": title, "track_id": None}


CATALOG = _catalog(
    [
        ("c1", "Queen", "Don't Stop Me Now - Remastered 2011"),
        ("c2", "Queen", "Bohemian Rhapsody"),
        ("c3", "The Beatles", "Love Me Do"),
        ("c4", "Beyoncé", "Halo"),
    ]
)


def test_match_strips_versions_and_folds_accents() -> None:
    [row] = match_tracks([_played("QUEEN", "Don’t Stop Me Now (Live)")], CATALOG, 90).to_pylist()
    assert (row["catalog_track_id"], row["match_score"]) == ("c1", 100.0)
    [row] = match_tracks([_played("Beyonce feat. X", "Halo")], CATALOG, 90).to_pylist()
    assert row["catalog_track_id"] == "c4" and row["catalog_artist_name"] == "Beyoncé"


def test_primary_artist_mismatch_is_rejected() -> None:
    played = [_played("Queen Tribute Band", "Bohemian Rhapsody")]
    [row] = match_tracks(played, CATALOG, 90).to_pylist()
    assert row["catalog_track_id"] is None and row["catalog_artist_name"] is None


def test_subset_titles_do_not_match() -> None:
    [row] = match_tracks([_played("The Beatles", "Love")], CATALOG, 90).to_pylist()
    assert row["catalog_track_id"] is None and row["catalog_artist_name"] == "The Beatles"


def test_every_played_track_gets_one_row() -> None:
    played = [_played("Queen", "Bohemian Rhapsody", "a"), _played("Nobody", "x", "b")]
    out = match_tracks(played, CATALOG, 90)
    assert out.column("track_key").to_pylist() == ["a", "b"]
    assert out.column("catalog_track_id").to_pylist() == ["c2", None]
    assert match_tracks([], CATALOG, 90).num_rows == 0


def test_the_tracks_own_artist_is_tried_when_the_album_artist_fails() -> None:
    played = [{**_played("Various Artists", "Halo"), "track_artist": "Beyoncé"}]
    [row] = match_tracks(played, CATALOG, 90).to_pylist()
    assert (row["catalog_track_id"], row["artist_norm"]) == ("c4", "beyonce")
    # the export's artist wins a tie
    both = [{**_played("Queen", "Bohemian Rhapsody"), "track_artist": "Beyoncé"}]
    [row] = match_tracks(both, CATALOG, 90).to_pylist()
    assert (row["catalog_track_id"], row["catalog_artist_name"]) == ("c2", "Queen")
