/* user_track_plays: how often each user played each music track, per spelling. */
/* One row per user, track_key, track_id and names (artist, title) as the plays */
/* carry them, with the skips among those plays and the milliseconds played */
/* (all of them, and those of the plays that were not skipped), and when the */
/* first of those plays ended. The track lookup tables (track_catalog_matches, */
/* track_features) count plays from here: a few rows per track and user instead */
/* of every play, so rebuilding the keys a few users' new plays touched reads */
/* little; user_track_features sums it per track, and audio_to_valence takes */
/* each user's first spelling of a track from it. */
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
    track_name,
    COALESCE(is_skip, FALSE) AS is_skip,
    ms_played,
    played_at
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
    COUNT(*) AS n_plays,
    COUNT(*) FILTER(WHERE
      is_skip) AS n_skips,
    CAST(SUM(ms_played) AS BIGINT) AS ms_played,
    CAST(SUM(ms_played) FILTER(WHERE
      NOT is_skip) AS BIGINT) AS ms_played_not_skipped,
    MIN(played_at) AS first_played_at
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
