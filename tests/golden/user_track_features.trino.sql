/* user_track_features: one row per user and music track_key: the user's plays */
/* of the track (user_track_plays summed over the track's spellings: plays, */
/* skips, milliseconds played) with the track's audio features, mood quadrant, */
/* genres and their source (track_features). A play's features are its track_key's, so a */
/* Gold model that needs only plays per user and track, or per user and */
/* feature values, reads these rows (about 1.5M at 10M plays) instead of every */
/* play: the features of the plays that were not skipped are these features, */
/* n_plays - n_skips times. */
WITH track_plays AS (
  SELECT
    *
  FROM user_track_plays
), features AS (
  SELECT
    *
  FROM track_features
), per_track AS (
  SELECT
    user_id,
    track_key,
    CAST(SUM(n_plays) AS BIGINT) AS n_plays,
    CAST(SUM(n_skips) AS BIGINT) AS n_skips,
    CAST(SUM(ms_played) AS BIGINT) AS ms_played,
    CAST(SUM(ms_played_not_skipped) AS BIGINT) AS ms_played_not_skipped
  FROM track_plays
  GROUP BY
    user_id,
    track_key
), final AS (
  SELECT
    per_track.user_id,
    per_track.track_key,
    per_track.n_plays,
    per_track.n_skips,
    per_track.ms_played,
    per_track.ms_played_not_skipped,
    features.feature_source,
    features.feature_confidence,
    features.catalog_track_id,
    features.genres,
    features.danceability,
    features.energy,
    features.key,
    features.loudness,
    features.mode,
    features.speechiness,
    features.acousticness,
    features.instrumentalness,
    features.liveness,
    features.valence,
    features.tempo,
    features.time_signature,
    features.mood_quadrant
  FROM per_track
  LEFT JOIN features
    ON features.track_key = per_track.track_key
)
SELECT
  *
FROM final
