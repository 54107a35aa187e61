/* Distribution of each audio feature over a user's plays (skips and untrusted */
/* features excluded): min, quartiles, max, mean, sample std. */
/* Percentiles interpolate linearly between the two nearest ranks (the */
/* definition of DuckDB quantile_cont and Spark percentile). They are computed */
/* from play counts per user and track and running sums of those counts in */
/* value order, so every engine gives the same numbers and memory stays bounded */
/* (audio features repeat per track). The value at rank r is the smallest value */
/* whose running count reaches r (ties in any order give the same value). A user */
/* with no usable features gets a row per feature with n_feature_plays = 0 and */
/* NULL stats. */
WITH listening AS (
  SELECT
    *
  FROM listening_with_features
), params AS (
  SELECT
    allow_synthetic
  FROM run_params
), features AS (
  /* numbered: the per-feature steps below key on the number, not the name */
  SELECT
    f.feature_no,
    f.feature
  FROM VALUES
    (1, 'danceability'),
    (2, 'energy'),
    (3, 'valence'),
    (4, 'acousticness'),
    (5, 'instrumentalness'),
    (6, 'speechiness'),
    (7, 'liveness'),
    (8, 'tempo'),
    (9, 'loudness') AS f(feature_no, feature)
), flagged AS (
  SELECT
    l.*,
    NOT l.valence IS NULL
    AND NOT l.is_skip
    AND (
      COALESCE(l.feature_source, '') <> 'synthetic' OR p.allow_synthetic
    ) AS is_mood_play
  FROM listening AS l
  CROSS JOIN params AS p
  WHERE
    l.is_music
), track_plays /* features belong to the track, so count usable plays per user and track first */ AS (
  SELECT
    fl.user_id,
    fl.track_key,
    COUNT(*) FILTER(WHERE
      fl.is_mood_play) AS plays,
    MAX(CASE WHEN fl.is_mood_play THEN fl.danceability END) AS danceability,
    MAX(CASE WHEN fl.is_mood_play THEN fl.energy END) AS energy,
    MAX(CASE WHEN fl.is_mood_play THEN fl.valence END) AS valence,
    MAX(CASE WHEN fl.is_mood_play THEN fl.acousticness END) AS acousticness,
    MAX(CASE WHEN fl.is_mood_play THEN fl.instrumentalness END) AS instrumentalness,
    MAX(CASE WHEN fl.is_mood_play THEN fl.speechiness END) AS speechiness,
    MAX(CASE WHEN fl.is_mood_play THEN fl.liveness END) AS liveness,
    MAX(CASE WHEN fl.is_mood_play THEN fl.tempo END) AS tempo,
    MAX(CASE WHEN fl.is_mood_play THEN fl.loudness END) AS loudness
  FROM flagged AS fl
  GROUP BY
    fl.user_id,
    fl.track_key
), long_values AS (
  SELECT
    tp.user_id,
    fe.feature_no,
    tp.plays,
    CASE fe.feature_no
      WHEN 1
      THEN tp.danceability
      WHEN 2
      THEN tp.energy
      WHEN 3
      THEN tp.valence
      WHEN 4
      THEN tp.acousticness
      WHEN 5
      THEN tp.instrumentalness
      WHEN 6
      THEN tp.speechiness
      WHEN 7
      THEN tp.liveness
      WHEN 8
      THEN tp.tempo
      WHEN 9
      THEN tp.loudness
    END AS value
  FROM track_plays AS tp
  CROSS JOIN features AS fe
), running AS (
  SELECT
    c.user_id,
    c.feature_no,
    c.value,
    c.plays,
    CAST(SUM(CASE WHEN NOT c.value IS NULL THEN c.plays ELSE 0 END) OVER (PARTITION BY c.user_id, c.feature_no) AS BIGINT) AS n,
    CAST(SUM(CASE WHEN NOT c.value IS NULL THEN c.plays ELSE 0 END) OVER (
      PARTITION BY c.user_id, c.feature_no
      ORDER BY c.value NULLS LAST
      rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
    ) AS BIGINT) AS running_plays,
    SUM(c.plays * c.value) OVER (PARTITION BY c.user_id, c.feature_no) AS value_sum
  FROM long_values AS c
), positioned AS (
  SELECT
    r.*,
    r.value_sum / NULLIF(r.n, 0) AS mean_value,
    1 /* positions are exact in double (quarters of integers) */ + CAST(r.n - 1 AS DOUBLE) / 4 AS pos_25,
    1 + CAST(r.n - 1 AS DOUBLE) / 2 AS pos_50,
    1 + CAST(3 * (
      r.n - 1
    ) AS DOUBLE) / 4 AS pos_75
  FROM running AS r
), aggregated AS (
  SELECT
    p.user_id,
    p.feature_no,
    CAST(MAX(p.n) AS BIGINT) AS n_feature_plays,
    MIN(p.value) AS min_value,
    MAX(p.value) AS max_value,
    MAX(p.mean_value) AS mean,
    SQRT(
      SUM(p.plays * (
        p.value - p.mean_value
      ) * (
        p.value - p.mean_value
      )) / NULLIF(MAX(p.n) - 1, 0)
    ) AS std,
    MAX(p.pos_25) - FLOOR(MAX(p.pos_25)) AS frac_25,
    MAX(p.pos_50) - FLOOR(MAX(p.pos_50)) AS frac_50,
    MAX(p.pos_75) - FLOOR(MAX(p.pos_75)) AS frac_75,
    MIN(CASE WHEN p.running_plays >= FLOOR(p.pos_25) THEN p.value END) AS low_25,
    MIN(CASE WHEN p.running_plays >= CEIL(p.pos_25) THEN p.value END) AS high_25,
    MIN(CASE WHEN p.running_plays >= FLOOR(p.pos_50) THEN p.value END) AS low_50,
    MIN(CASE WHEN p.running_plays >= CEIL(p.pos_50) THEN p.value END) AS high_50,
    MIN(CASE WHEN p.running_plays >= FLOOR(p.pos_75) THEN p.value END) AS low_75,
    MIN(CASE WHEN p.running_plays >= CEIL(p.pos_75) THEN p.value END) AS high_75
  FROM positioned AS p
  GROUP BY
    p.user_id,
    p.feature_no
), final AS (
  SELECT
    a.user_id,
    fe.feature,
    a.n_feature_plays,
    a.min_value,
    a.low_25 + a.frac_25 * (
      a.high_25 - a.low_25
    ) AS p25,
    a.low_50 + a.frac_50 * (
      a.high_50 - a.low_50
    ) AS median,
    a.low_75 + a.frac_75 * (
      a.high_75 - a.low_75
    ) AS p75,
    a.max_value,
    a.mean,
    a.std
  FROM aggregated AS a
  INNER JOIN features AS fe
    ON a.feature_no = fe.feature_no
)
SELECT
  *
FROM final
