"""Mood states: k-means and a Gaussian mixture over a user's distinct tracks.

Each distinct track (first play's features) is one point; features are
standardised per user. k runs over 2..6. k-means picks the k with the highest
silhouette; the Gaussian mixture (diagonal covariances) the k with the lowest
BIC. Every candidate k is kept in ``cluster_model_selection`` with inertia,
silhouette, BIC and AIC, and the choice flagged. A cluster is named by the
mood quadrant of its centroid (mean valence and energy of its tracks), with a
number when two clusters share a quadrant. Stability: the chosen model is
refitted with another seed and the adjusted Rand index between the two
labelings is stored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

from .plays import FEATURES, mood_plays
from .quadrants import quadrant_array

K_RANGE = range(2, 7)
MIN_TRACKS = 30
SILHOUETTE_SAMPLE = 2000
CRITERIA = {"kmeans": "max silhouette", "gmm": "min BIC"}


def distinct_tracks(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(track_keys, raw feature matrix): one row per distinct track with all features."""
    plays = mood_plays(arrays)
    X = np.column_stack([plays[name].astype(float) for name in FEATURES])
    complete = np.isfinite(X).all(axis=1)
    keys, first = np.unique(plays["track_key"][complete].astype(str), return_index=True)
    return keys, X[complete][first]


def _fit(method: str, k: int, X: np.ndarray, seed: int):
    if method == "kmeans":
        model = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(X)
        return model, model.labels_
    model = GaussianMixture(
        n_components=k, covariance_type="diag", random_state=seed, reg_covar=1e-4, n_init=2
    ).fit(X)
    return model, model.predict(X)


def _silhouette(X: np.ndarray, labels: np.ndarray, seed: int) -> float | None:
    if np.unique(labels).size < 2:
        return None
    size = min(SILHOUETTE_SAMPLE, X.shape[0])
    return float(silhouette_score(X, labels, sample_size=size, random_state=seed))


@dataclass
class Clustering:
    method: str
    k: int
    labels: np.ndarray
    stability_ari: float
    selection: list[dict]


def cluster_tracks(X_raw: np.ndarray, method: str, seed: int = 0) -> Clustering:
    """Fit every k, choose by the method's criterion, and measure stability."""
    X = StandardScaler().fit_transform(X_raw)
    rows, fitted = [], {}
    for k in K_RANGE:
        if k >= X.shape[0]:
            break
        model, labels = _fit(method, k, X, seed)
        fitted[k] = labels
        rows.append(
            {
                "k": k,
                "inertia": float(model.inertia_) if method == "kmeans" else None,
                "silhouette": _silhouette(X, labels, seed),
                "bic": float(model.bic(X)) if method == "gmm" else None,
                "aic": float(model.aic(X)) if method == "gmm" else None,
            }
        )
    chosen = _choose(method, rows)
    for row in rows:
        row["is_chosen"] = row["k"] == chosen
    _, again = _fit(method, chosen, X, seed + 1)
    ari = float(adjusted_rand_score(fitted[chosen], again))
    return Clustering(method, chosen, fitted[chosen], ari, rows)


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
