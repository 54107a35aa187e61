/* listening_with_features: every play with its track's audio features and mood */
/* quadrant (music only). track_features has one row per track_key, so the join */
/* never multiplies plays. */
WITH play_rows AS (
  SELECT
    *
  FROM plays
), features AS (
  SELECT
    *
  FROM track_features
), joined AS (
  SELECT
    play_rows.*,
    features.feature_source,
    features.feature_confidence,
    features.match_score,
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
  FROM play_rows
  /* podcasts get no features; the key is nulled (not an extra join condition) so */
  /* the join stays a hash join */
  LEFT JOIN features
    ON features.track_key = CASE WHEN play_rows.is_music THEN play_rows.track_key END
), final AS (
  SELECT
    *
  FROM joined
)
SELECT
  *
FROM final
