/* The 50 most played tracks of each mood quadrant per user. A play counts when */
/* it is not a skip and its track has trusted features. Ties are broken by */
/* minutes, then track_key, so the ranking is deterministic. */
WITH listening AS (
  SELECT
    *
  FROM listening_with_features
), params AS (
  SELECT
    allow_synthetic
  FROM run_params
), mood_plays AS (
  SELECT
    l.user_id,
    l.mood_quadrant,
    l.track_key,
    l.track_name,
    l.artist_name,
    l.ms_played,
    l.valence,
    l.energy,
    l.feature_source
  FROM listening AS l
  CROSS JOIN params AS p
  WHERE
    l.is_music
    AND NOT l.is_skip
    AND NOT l.mood_quadrant IS NULL
    AND (
      COALESCE(l.feature_source, '') <> 'synthetic' OR p.allow_synthetic
    )
), per_track AS (
  SELECT
    m.user_id,
    m.mood_quadrant,
    m.track_key,
    MIN(m.track_name) AS track_name,
    MIN(m.artist_name) AS artist_name,
    CAST(COUNT(*) AS BIGINT) AS plays,
    CAST(SUM(m.ms_played) AS DOUBLE) / 60000.0 AS minutes,
    MIN(m.valence) AS valence,
    MIN(m.energy) AS energy,
    MIN(m.feature_source) AS feature_source
  FROM mood_plays AS m
  GROUP BY
    m.user_id,
    m.mood_quadrant,
    m.track_key
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
      ORDER BY t.plays DESC, t.minutes DESC, t.track_key ASC NULLS LAST
    ) AS BIGINT) AS rank
  FROM per_track AS t
  LEFT JOIN cutoffs AS c
    ON t.user_id = c.user_id AND t.mood_quadrant = c.mood_quadrant
  WHERE
    t.plays >= COALESCE(c.min_plays, 0)
), final AS (
  SELECT
    r.user_id,
    r.mood_quadrant,
    r.rank,
    r.track_key,
    r.track_name,
    r.artist_name,
    r.plays,
    r.minutes,
    r.valence,
    r.energy,
    r.feature_source
  FROM ranked AS r
  WHERE
    r.rank <= 50
)
SELECT
  *
FROM final
