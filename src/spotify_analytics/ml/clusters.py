"""Mood states: k-means and a Gaussian mixture over a user's distinct tracks.

Each distinct track (features of its first non-skipped play with every
feature known) is one point; features are standardised per user. k runs over
2..6. Models are fitted on at most ``FIT_TRACKS`` tracks (a seeded sample when
a user has more) and every track is then assigned with ``predict``. k-means
(k-means++ start) picks the k with the highest silhouette; the Gaussian
mixture (diagonal covariances, started from the k-means centres of the same k)
the k with the lowest BIC. Silhouettes of every candidate are computed on one
seeded sample of at most ``SILHOUETTE_SAMPLE`` tracks, so candidates are
compared on the same points. Every candidate k is kept in
``cluster_model_selection`` with inertia, silhouette, BIC and AIC, and the
choice flagged. A cluster is named by the mood quadrant of its centroid (mean
valence and energy of its tracks), with a number when two clusters share a
quadrant. Stability: the chosen model is refitted with another seed and the
adjusted Rand index between the two labelings of all tracks is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import mixtures
from .plays import FEATURES, ArrowStrings
from .quadrants import quadrant_array

K_RANGE = range(2, 7)
MIN_TRACKS = 30
FIT_TRACKS = 500
SILHOUETTE_SAMPLE = 500
CRITERIA = {"kmeans": "max silhouette", "gmm": "min BIC"}

# A track's features come from track_features (joined on track_key), so every
# play of a track carries the same values: the first listened play's features
# are the track's. Duplicates of a play therefore cannot change a point, and
# this query reads the plays without the duplicate rule of cognitive.plays_sql.
TRACKS_SQL = """
with music as (
    select user_id, track_key, played_at, is_skip, {features}
    from listening_with_features
    where is_music and user_id is not null and played_at is not null
),
users as (
    select distinct user_id
    from music
),
complete as (
    select *
    from music
    where not coalesce(is_skip, false) and {finite}
),
first_plays as (
    select user_id, track_key, {first}
    from complete
    group by user_id, track_key
),
final as (
    select users.user_id, first_plays.* exclude (user_id)
    from users
    left join first_plays using (user_id)
)
select * from final
order by user_id, track_key
"""


def tracks_sql(allow_synthetic: bool) -> str:
    """One row per user and distinct track with every feature known, in track
    order; a user with music plays but no such track has one row without a track."""
    guard = "true" if allow_synthetic else "coalesce(feature_source, '') <> 'synthetic'"
    return TRACKS_SQL.format(
        features=", ".join(f"case when {guard} then {name} end as {name}" for name in FEATURES),
        finite=" and ".join(f"isfinite({name})" for name in FEATURES),
        first=", ".join(f"arg_min({name}, played_at) as {name}" for name in FEATURES),
    )


def track_points(plays: dict[str, np.ndarray]) -> np.ndarray:
    """``TRACKS_SQL`` for one user's plays (deduplicated, in time order): the
    features of each distinct track's first non-skipped play with every feature
    known, one row per track in ``track_key`` order."""
    skip = plays["is_skip"].astype(bool)
    X = np.column_stack([plays[name].astype(float) for name in FEATURES])
    rows = np.flatnonzero(~skip & np.isfinite(X).all(axis=1))
    if rows.size == 0:
        return np.zeros((0, len(FEATURES)))
    keys = plays["track_key"][rows]
    if isinstance(keys, ArrowStrings):
        keys = keys.to_arrow()
    else:
        keys = pa.array(keys.tolist(), pa.string())
    encoded = keys.dictionary_encode()
    _, first = np.unique(encoded.indices.to_numpy(zero_copy_only=False), return_index=True)
    order = pc.sort_indices(encoded.dictionary).to_numpy()  # track_key order, as in SQL
    return X[rows[first[order]]]


@dataclass
class Clustering:
    method: str
    k: int
    labels: np.ndarray
    stability_ari: float
    selection: list[dict]


class Silhouette:
    """Exact silhouette scores of any labeling on one fixed sample of points
    (the pairwise distances are computed once)."""

    def __init__(self, X: np.ndarray, size: int, seed: int):
        rng = np.random.default_rng(seed)
        self.index = np.sort(rng.permutation(X.shape[0])[:size])
        points = X[self.index]
        squares = (points**2).sum(axis=1)
        d2 = squares[:, None] + squares[None, :] - 2 * points @ points.T
        np.maximum(d2, 0, out=d2)
        np.fill_diagonal(d2, 0)
        self.distances = np.sqrt(d2, out=d2)

    def score(self, labels: np.ndarray) -> float | None:
        return self.scores([labels])[0]

    def scores(self, labelings: list[np.ndarray]) -> list[float | None]:
        """``score`` of each labeling; the distances to every cluster of every
        labeling are one matrix product."""
        codes, sizes = [], []
        for labels in labelings:
            clusters, sample = np.unique(labels[self.index], return_inverse=True)
            codes.append(sample)
            sizes.append(clusters.size)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        members = np.zeros((self.index.size, int(sum(sizes))))
        rows = np.arange(self.index.size)
        for sample, offset in zip(codes, offsets, strict=True):
            members[rows, sample + offset] = 1.0
        all_sums = self.distances @ members
        found = []
        for sample, offset, size in zip(codes, offsets, sizes, strict=True):
            if size < 2:
                found.append(None)
                continue
            sums = all_sums[:, offset : offset + size]
            counts = members[:, offset : offset + size].sum(axis=0)
            own = counts[sample]
            inner = sums[rows, sample] / np.maximum(own - 1, 1)
            means = sums / counts
            means[rows, sample] = np.inf
            nearest = means.min(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                values = (nearest - inner) / np.maximum(inner, nearest)
            values = np.where(own > 1, np.nan_to_num(values), 0.0)
            found.append(float(values.mean()))
        return found


def standardise(X_raw: np.ndarray) -> np.ndarray:
    scale = X_raw.std(axis=0)
    return (X_raw - X_raw.mean(axis=0)) / np.where(scale > 0, scale, 1.0)


def cluster_user(
    X_raw: np.ndarray, seed: int = 0, fit_tracks: int = FIT_TRACKS
) -> dict[str, Clustering]:
    """Both methods for one user's tracks: every k, the choice, its stability."""
    X = standardise(X_raw)
    fit = X[np.sort(np.random.default_rng(seed).permutation(X.shape[0])[:fit_tracks])]
    ks = [k for k in K_RANGE if k < fit.shape[0]]
    kmeans = mixtures.kmeans_each(fit, ks, seed)
    gmm = mixtures.gaussian_mixtures(fit, [found.labels for found in kmeans], ks)
    labels = {
        **{("kmeans", k): found.predict(X) for k, found in zip(ks, kmeans, strict=True)},
        **{("gmm", k): found.predict(X) for k, found in zip(ks, gmm, strict=True)},
    }
    rows = {
        "kmeans": [
            {"k": k, "inertia": found.inertia, "bic": None, "aic": None}
            for k, found in zip(ks, kmeans, strict=True)
        ],
        "gmm": [
            {"k": k, "inertia": None, "bic": found.bic, "aic": found.aic}
            for k, found in zip(ks, gmm, strict=True)
        ],
    }
    keys = list(labels)
    silhouettes = Silhouette(X, SILHOUETTE_SAMPLE, seed).scores([labels[key] for key in keys])
    silhouette = dict(zip(keys, silhouettes, strict=True))
    chosen = {}
    for method, selection in rows.items():
        for row in selection:
            row["silhouette"] = silhouette[method, row["k"]]
        chosen[method] = _choose(method, selection)
        for row in selection:
            row["is_chosen"] = row["k"] == chosen[method]
    again = _refits(fit, chosen, seed + 1)
    result = {}
    for method, selection in rows.items():
        k = chosen[method]
        ari = mixtures.adjusted_rand(labels[method, k], again[method].predict(X))
        result[method] = Clustering(method, k, labels[method, k], ari, selection)
    return result


def _refits(fit: np.ndarray, chosen: dict[str, int], seed: int) -> dict[str, object]:
    """Each method's chosen model refitted with another seed (stability): k-means
    for each chosen k, the mixture from the k-means partition of its own k."""
    ks = sorted(set(chosen.values()))
    kmeans = dict(zip(ks, mixtures.kmeans_each(fit, ks, seed), strict=True))
    k = chosen["gmm"]
    return {
        "kmeans": kmeans[chosen["kmeans"]],
        "gmm": mixtures.gaussian_mixture(fit, kmeans[k].labels, k),
    }


def cluster_tracks(X_raw: np.ndarray, method: str, seed: int = 0) -> Clustering:
    """One method's clustering of one user's tracks."""
    return cluster_user(X_raw, seed)[method]


def _choose(method: str, rows: list[dict]) -> int:
    if method == "kmeans":
        return max(rows, key=lambda r: (r["silhouette"] or -1.0, -r["k"]))["k"]
    return min(rows, key=lambda r: (r["bic"], r["k"]))["k"]


def describe(clustering: Clustering, X_raw: np.ndarray) -> list[dict]:
    """One row per cluster: size, centroid in original units, quadrant name."""
    labels = clustering.labels
    order = sorted(np.unique(labels), key=lambda c: (-(labels == c).sum(), c))
    rows = []
    for number, cluster in enumerate(order):
        members = X_raw[labels == cluster]
        centroid = dict(zip(FEATURES, members.mean(axis=0).tolist(), strict=True))
        rows.append(
            {
                "cluster_id": number,
                "n_tracks": int(members.shape[0]),
                "share": members.shape[0] / X_raw.shape[0],
                "mood_quadrant": str(
                    quadrant_array(centroid["valence"], centroid["energy"]).item()
                ),
                **{f"mean_{name}": value for name, value in centroid.items()},
            }
        )
    seen: dict[str, int] = {}
    for row in rows:
        seen[row["mood_quadrant"]] = seen.get(row["mood_quadrant"], 0) + 1
        count = seen[row["mood_quadrant"]]
        row["cluster_name"] = row["mood_quadrant"] + (f" {count}" if count > 1 else "")
    return rows
