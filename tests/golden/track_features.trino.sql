/* track_features: one row per played music track_key with audio features from the */
/* best available source, whole rows only (never mixed column by column): */
/* spotify_api (high) > catalog_id (high) > catalog_match (medium) > reccobeats (medium) */
/* > artist_profile (low) > synthetic (only with allow_synthetic) > none (nulls). */
/* Among candidates of one source, the track id played most often wins. */
/* A track's row depends only on the plays of that track_key (and on the catalog, */
/* the provider features and the name matches), so an incremental run rebuilds */
/* only the keys whose plays changed. */
/* catalog_track_id and genres come from the catalog track linked by id (else by */
/* name match), whatever source the features came from. */
WITH spellings AS (
  SELECT
    *
  FROM track_plays
), catalog AS (
  SELECT
    *
  FROM catalog_tracks
), name_matches AS (
  SELECT
    *
  FROM track_catalog_matches
), provider_features AS (
  SELECT
    *
  FROM my_tracks_features_bronze
), params AS (
  SELECT
    *
  FROM run_params
), played_tracks AS (
  SELECT
    track_key,
    CAST(SUM(n_plays) AS BIGINT) AS n_plays
  FROM spellings
  GROUP BY
    track_key
), played_ids AS (
  SELECT
    track_key,
    track_id,
    CAST(SUM(n_plays) AS BIGINT) AS n_plays
  FROM spellings
  WHERE
    NOT track_id IS NULL
  GROUP BY
    track_key,
    track_id
), provider_candidates AS (
  SELECT
    played_ids.track_key,
    CASE provider_features.provider WHEN 'spotify_api' THEN 1 ELSE 4 END AS priority,
    provider_features.provider AS feature_source,
    CASE provider_features.provider WHEN 'spotify_api' THEN 'high' ELSE 'medium' END AS feature_confidence,
    CAST(NULL AS DOUBLE) AS match_score,
    played_ids.n_plays,
    played_ids.track_id AS tie_breaker,
    provider_features.danceability,
    provider_features.energy,
    provider_features.key,
    provider_features.loudness,
    provider_features.mode,
    provider_features.speechiness,
    provider_features.acousticness,
    provider_features.instrumentalness,
    provider_features.liveness,
    provider_features.valence,
    provider_features.tempo,
    provider_features.time_signature
  FROM played_ids
  INNER JOIN provider_features
    ON provider_features.track_id = played_ids.track_id
  WHERE
    provider_features.provider IN ('spotify_api', 'reccobeats')
), catalog_id_candidates AS (
  SELECT
    played_ids.track_key,
    2 AS priority,
    'catalog_id' AS feature_source,
    'high' AS feature_confidence,
    CAST(NULL AS DOUBLE) AS match_score,
    played_ids.n_plays,
    played_ids.track_id AS tie_breaker,
    catalog.danceability,
    catalog.energy,
    catalog.key,
    catalog.loudness,
    catalog.mode,
    catalog.speechiness,
    catalog.acousticness,
    catalog.instrumentalness,
    catalog.liveness,
    catalog.valence,
    catalog.tempo,
    catalog.time_signature
  FROM played_ids
  INNER JOIN catalog
    ON catalog.track_id = played_ids.track_id
), catalog_match_candidates AS (
  SELECT
    name_matches.track_key,
    3 AS priority,
    'catalog_match' AS feature_source,
    'medium' AS feature_confidence,
    name_matches.match_score,
    CAST(0 AS BIGINT) AS n_plays,
    catalog.track_id AS tie_breaker,
    catalog.danceability,
    catalog.energy,
    catalog.key,
    catalog.loudness,
    catalog.mode,
    catalog.speechiness,
    catalog.acousticness,
    catalog.instrumentalness,
    catalog.liveness,
    catalog.valence,
    catalog.tempo,
    catalog.time_signature
  FROM name_matches
  INNER JOIN catalog
    ON catalog.track_id = name_matches.catalog_track_id
), artist_profiles /* mean features of the artist's catalog tracks; a mean key means nothing, so none */ AS (
  SELECT
    artist_name,
    AVG(danceability) AS danceability,
    AVG(energy) AS energy,
    AVG(loudness) AS loudness,
    CAST(ROUND(AVG(mode)) AS BIGINT) AS mode,
    AVG(speechiness) AS speechiness,
    AVG(acousticness) AS acousticness,
    AVG(instrumentalness) AS instrumentalness,
    AVG(liveness) AS liveness,
    AVG(valence) AS valence,
    AVG(tempo) AS tempo,
    CAST(ROUND(AVG(time_signature)) AS BIGINT) AS time_signature
  FROM catalog
  WHERE
    NOT artist_name IS NULL
  GROUP BY
    artist_name
), artist_profile_candidates AS (
  SELECT
    name_matches.track_key,
    5 AS priority,
    'artist_profile' AS feature_source,
    'low' AS feature_confidence,
    CAST(NULL AS DOUBLE) AS match_score,
    CAST(0 AS BIGINT) AS n_plays,
    name_matches.catalog_artist_name AS tie_breaker,
    artist_profiles.danceability,
    artist_profiles.energy,
    CAST(NULL AS BIGINT) AS key,
    artist_profiles.loudness,
    artist_profiles.mode,
    artist_profiles.speechiness,
    artist_profiles.acousticness,
    artist_profiles.instrumentalness,
    artist_profiles.liveness,
    artist_profiles.valence,
    artist_profiles.tempo,
    artist_profiles.time_signature
  FROM name_matches
  INNER JOIN artist_profiles
    ON artist_profiles.artist_name = name_matches.catalog_artist_name
), hashed_tracks /* deterministic stand-in values from the bytes of md5(track_key); only on request */ AS (
  SELECT
    played_tracks.track_key,
    LOWER(TO_HEX(MD5(played_tracks.track_key))) AS digest
  FROM played_tracks
  CROSS JOIN params
  WHERE
    params.allow_synthetic
), hash_bytes AS (
  SELECT
    track_key,
    (
      STRPOS('0123456789abcdef', SUBSTR(digest, 1, 1)) - 1
    ) * 16 + STRPOS('0123456789abcdef', SUBSTR(digest, 2, 1)) - 1 AS b1,
    (
      STRPOS('0123456789abcdef', SUBSTR(digest, 3, 1)) - 1
    ) * 16 + STRPOS('0123456789abcdef', SUBSTR(digest, 4, 1)) - 1 AS b2,
    (
      STRPOS('0123456789abcdef', SUBSTR(digest, 5, 1)) - 1
    ) * 16 + STRPOS('0123456789abcdef', SUBSTR(digest, 6, 1)) - 1 AS b3,
    (
      STRPOS('0123456789abcdef', SUBSTR(digest, 7, 1)) - 1
    ) * 16 + STRPOS('0123456789abcdef', SUBSTR(digest, 8, 1)) - 1 AS b4,
    (
      STRPOS('0123456789abcdef', SUBSTR(digest, 9, 1)) - 1
    ) * 16 + STRPOS('0123456789abcdef', SUBSTR(digest, 10, 1)) - 1 AS b5,
    (
      STRPOS('0123456789abcdef', SUBSTR(digest, 11, 1)) - 1
    ) * 16 + STRPOS('0123456789abcdef', SUBSTR(digest, 12, 1)) - 1 AS b6,
    (
      STRPOS('0123456789abcdef', SUBSTR(digest, 13, 1)) - 1
    ) * 16 + STRPOS('0123456789abcdef', SUBSTR(digest, 14, 1)) - 1 AS b7,
    (
      STRPOS('0123456789abcdef', SUBSTR(digest, 15, 1)) - 1
    ) * 16 + STRPOS('0123456789abcdef', SUBSTR(digest, 16, 1)) - 1 AS b8,
    (
      STRPOS('0123456789abcdef', SUBSTR(digest, 17, 1)) - 1
    ) * 16 + STRPOS('0123456789abcdef', SUBSTR(digest, 18, 1)) - 1 AS b9,
    (
      STRPOS('0123456789abcdef', SUBSTR(digest, 19, 1)) - 1
    ) * 16 + STRPOS('0123456789abcdef', SUBSTR(digest, 20, 1)) - 1 AS b10,
    (
      STRPOS('0123456789abcdef', SUBSTR(digest, 21, 1)) - 1
    ) * 16 + STRPOS('0123456789abcdef', SUBSTR(digest, 22, 1)) - 1 AS b11
  FROM hashed_tracks
), synthetic_candidates AS (
  SELECT
    track_key,
    6 AS priority,
    'synthetic' AS feature_source,
    'synthetic' AS feature_confidence,
    CAST(NULL AS DOUBLE) AS match_score,
    CAST(0 AS BIGINT) AS n_plays,
    track_key AS tie_breaker,
    CAST(b1 AS DOUBLE) / 255.0 AS danceability,
    CAST(b2 AS DOUBLE) / 255.0 AS energy,
    CAST(b3 % 12 AS BIGINT) AS key,
    -30.0 + CAST(30.0 * b4 AS DOUBLE) / 255.0 AS loudness,
    CAST(b5 % 2 AS BIGINT) AS mode,
    CAST(b6 AS DOUBLE) / 255.0 AS speechiness,
    CAST(b7 AS DOUBLE) / 255.0 AS acousticness,
    CAST(b8 AS DOUBLE) / 255.0 AS instrumentalness,
    CAST(b9 AS DOUBLE) / 255.0 AS liveness,
    CAST(b10 AS DOUBLE) / 255.0 AS valence,
    60.0 + CAST(140.0 * b11 AS DOUBLE) / 255.0 AS tempo,
    CAST(4 AS BIGINT) AS time_signature
  FROM hash_bytes
), candidates AS (
  SELECT
    *
  FROM provider_candidates
  UNION ALL
  SELECT
    *
  FROM catalog_id_candidates
  UNION ALL
  SELECT
    *
  FROM catalog_match_candidates
  UNION ALL
  SELECT
    *
  FROM artist_profile_candidates
  UNION ALL
  SELECT
    *
  FROM synthetic_candidates
), ranked_candidates AS (
  SELECT
    *,
    ROW_NUMBER() OVER (PARTITION BY track_key ORDER BY priority, n_plays DESC, tie_breaker) AS candidate_rank
  FROM candidates
), catalog_links AS (
  SELECT
    track_key,
    1 AS link_priority,
    n_plays,
    track_id AS catalog_track_id
  FROM played_ids
  WHERE
    track_id IN (
      SELECT
        track_id
      FROM catalog
    )
  UNION ALL
  SELECT
    track_key,
    2 AS link_priority,
    0 AS n_plays,
    catalog_track_id
  FROM name_matches
  WHERE
    NOT catalog_track_id IS NULL
), best_links AS (
  SELECT
    *,
    ROW_NUMBER() OVER (PARTITION BY track_key ORDER BY link_priority, n_plays DESC, catalog_track_id) AS link_rank
  FROM catalog_links
), resolved AS (
  SELECT
    played_tracks.track_key,
    chosen.feature_source,
    chosen.feature_confidence,
    chosen.match_score,
    best_links.catalog_track_id,
    catalog.genres,
    CAST(chosen.danceability AS DOUBLE) AS danceability,
    CAST(chosen.energy AS DOUBLE) AS energy,
    CAST(chosen.key AS BIGINT) AS key,
    CAST(chosen.loudness AS DOUBLE) AS loudness,
    CAST(chosen.mode AS BIGINT) AS mode,
    CAST(chosen.speechiness AS DOUBLE) AS speechiness,
    CAST(chosen.acousticness AS DOUBLE) AS acousticness,
    CAST(chosen.instrumentalness AS DOUBLE) AS instrumentalness,
    CAST(chosen.liveness AS DOUBLE) AS liveness,
    CAST(chosen.valence AS DOUBLE) AS valence,
    CAST(chosen.tempo AS DOUBLE) AS tempo,
    CAST(chosen.time_signature AS BIGINT) AS time_signature
  FROM played_tracks
  LEFT JOIN ranked_candidates AS chosen
    ON chosen.track_key = played_tracks.track_key AND chosen.candidate_rank = 1
  LEFT JOIN best_links
    ON best_links.track_key = played_tracks.track_key AND best_links.link_rank = 1
  LEFT JOIN catalog
    ON catalog.track_id = best_links.catalog_track_id
), final /* the track's mood quadrant from its valence and energy (null without them) */ AS (
  SELECT
    resolved.*,
    CASE
      WHEN resolved.valence IS NULL OR resolved.energy IS NULL
      THEN NULL
      WHEN resolved.valence >= 0.6 AND resolved.energy >= 0.6
      THEN 'happy-energetic'
      WHEN resolved.valence >= 0.6 AND resolved.energy < 0.4
      THEN 'happy-calm'
      WHEN resolved.valence < 0.4 AND resolved.energy >= 0.6
      THEN 'sad-energetic'
      WHEN resolved.valence < 0.4 AND resolved.energy < 0.4
      THEN 'sad-calm'
      ELSE 'neutral'
    END AS mood_quadrant
  FROM resolved
)
SELECT
  *
FROM final
