/* user_track_plays: how often each user played each music track, per spelling. */
/* One row per user, track_key, track_id and names (artist, title) as the plays */
/* carry them. The track lookup tables (track_catalog_matches, track_features) */
/* count plays from here: a few rows per track and user instead of every play, so */
/* rebuilding the keys a few users' new plays touched reads little. */
WITH play_rows AS (
  SELECT
    *
  FROM plays
), music_plays AS (
  SELECT
    user_id,
    track_key,
    track_id,
    artist_name,
    track_name
  FROM play_rows
  WHERE
    is_music AND NOT track_key IS NULL
), final AS (
  SELECT
    user_id,
    track_key,
    track_id,
    artist_name,
    track_name,
    COUNT(*) AS n_plays
  FROM music_plays
  GROUP BY
    user_id,
    track_key,
    track_id,
    artist_name,
    track_name
)
SELECT
  *
FROM final
