/* The 50 most played tracks of each mood quadrant per user. A play counts when */
/* it is not a skip and its track has trusted features. Ties are broken by */
/* minutes, then track_key, so the ranking is deterministic. Plays per user */
/* and track come from user_track_features (the quadrant is the track's), the */
/* names from user_track_plays. */
WITH user_tracks AS (
  SELECT
    *
  FROM user_track_features
), track_spellings AS (
  SELECT
    *
  FROM user_track_plays
), params AS (
  SELECT
    allow_synthetic
  FROM run_params
), per_track AS (
  /* a track's quadrant and features are its plays', so its plays that count */
  /* are the ones not skipped: n_plays - n_skips, ms_played_not_skipped */
  SELECT
    t.user_id,
    t.mood_quadrant,
    t.track_key,
    t.n_plays - t.n_skips AS plays,
    CAST(t.ms_played_not_skipped AS DOUBLE) / 60000.0 AS minutes,
    t.valence,
    t.energy,
    t.feature_source
  FROM user_tracks AS t
  CROSS JOIN params AS p
  WHERE
    t.n_plays > t.n_skips
    AND NOT t.mood_quadrant IS NULL
    AND (
      COALESCE(t.feature_source, '') <> 'synthetic' OR p.allow_synthetic
    )
), cutoffs AS (
  /* the plays of the 50th most played track per user and quadrant: only */
  /* tracks played at least that often can rank (groups with fewer tracks */
  /* have no cutoff), so only those are sorted */
  SELECT
    c.user_id,
    c.mood_quadrant,
    MAX(c.plays) AS min_plays
  FROM (
    SELECT
      t.user_id,
      t.mood_quadrant,
      t.plays,
      SUM(COUNT(*)) OVER (
        PARTITION BY t.user_id, t.mood_quadrant
        ORDER BY t.plays DESC
        rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
      ) AS tracks_at_or_above
    FROM per_track AS t
    GROUP BY
      t.user_id,
      t.mood_quadrant,
      t.plays
  ) AS c
  WHERE
    c.tracks_at_or_above >= 50
  GROUP BY
    c.user_id,
    c.mood_quadrant
), ranked AS (
  SELECT
    t.*,
    CAST(ROW_NUMBER() OVER (
      PARTITION BY t.user_id, t.mood_quadrant
      ORDER BY t.plays DESC, t.minutes DESC, t.track_key ASC
    ) AS BIGINT) AS rank
  FROM per_track AS t
  LEFT JOIN cutoffs AS c
    ON t.user_id = c.user_id AND t.mood_quadrant = c.mood_quadrant
  WHERE
    t.plays >= COALESCE(c.min_plays, 0)
), picked_names AS (
  /* names of the ranked tracks: the smallest of each over the spellings the */
  /* user played without skipping */
  SELECT
    sp.user_id,
    sp.track_key,
    MIN(sp.track_name) AS track_name,
    MIN(sp.artist_name) AS artist_name
  FROM track_spellings AS sp
  INNER JOIN (
    SELECT DISTINCT
      r.user_id,
      r.track_key
    FROM ranked AS r
    WHERE
      r.rank <= 50
  ) AS picked
    ON sp.user_id = picked.user_id AND sp.track_key = picked.track_key
  WHERE
    sp.n_plays > sp.n_skips
  GROUP BY
    sp.user_id,
    sp.track_key
), final AS (
  SELECT
    r.user_id,
    r.mood_quadrant,
    r.rank,
    r.track_key,
    n.track_name,
    n.artist_name,
    r.plays,
    r.minutes,
    r.valence,
    r.energy,
    r.feature_source
  FROM ranked AS r
  INNER JOIN picked_names AS n
    ON r.user_id = n.user_id AND r.track_key = n.track_key
  WHERE
    r.rank <= 50
)
SELECT
  *
FROM final
