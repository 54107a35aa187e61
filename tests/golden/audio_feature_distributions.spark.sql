/* Distribution of each audio feature over a user's plays (skips and untrusted */
/* features excluded): min, quartiles, max, mean, sample std. */
/* Percentiles are computed from the sorted values with linear interpolation */
/* (the definition of quantile_cont / Spark percentile), written with list */
/* functions so Spark and Trino compute exactly the same numbers. A user with no */
/* usable features gets a row per feature with n_feature_plays = 0 and NULL stats. */
WITH listening AS (
  SELECT
    *
  FROM listening_with_features
), params AS (
  SELECT
    allow_synthetic
  FROM run_params
), features AS (
  SELECT
    f.feature
  FROM VALUES
    ('danceability'),
    ('energy'),
    ('valence'),
    ('acousticness'),
    ('instrumentalness'),
    ('speechiness'),
    ('liveness'),
    ('tempo'),
    ('loudness') AS f(feature)
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
), long_values AS (
  SELECT
    fl.user_id,
    fe.feature,
    CASE
      WHEN fl.is_mood_play
      THEN CASE fe.feature
        WHEN 'danceability'
        THEN fl.danceability
        WHEN 'energy'
        THEN fl.energy
        WHEN 'valence'
        THEN fl.valence
        WHEN 'acousticness'
        THEN fl.acousticness
        WHEN 'instrumentalness'
        THEN fl.instrumentalness
        WHEN 'speechiness'
        THEN fl.speechiness
        WHEN 'liveness'
        THEN fl.liveness
        WHEN 'tempo'
        THEN fl.tempo
        WHEN 'loudness'
        THEN fl.loudness
      END
    END AS value
  FROM flagged AS fl
  CROSS JOIN features AS fe
), aggregated AS (
  SELECT
    v.user_id,
    v.feature,
    CAST(COUNT(v.value) AS BIGINT) AS n_feature_plays,
    MIN(v.value) AS min_value,
    MAX(v.value) AS max_value,
    AVG(v.value) AS mean,
    STDDEV_SAMP(v.value) AS std,
    ARRAY_SORT(COLLECT_LIST(v.value) FILTER(WHERE
      NOT v.value IS NULL)) AS sorted_values
  FROM long_values AS v
  GROUP BY
    v.user_id,
    v.feature
), positions AS (
  SELECT
    a.*,
    1 + 0.25 * (
      a.n_feature_plays - 1
    ) AS pos_25,
    1 + 0.50 * (
      a.n_feature_plays - 1
    ) AS pos_50,
    1 + 0.75 * (
      a.n_feature_plays - 1
    ) AS pos_75
  FROM aggregated AS a
), final AS (
  SELECT
    p.user_id,
    p.feature,
    p.n_feature_plays,
    p.min_value,
    CASE
      WHEN p.n_feature_plays > 0
      THEN p.sorted_values[CAST(FLOOR(p.pos_25) AS BIGINT) + -1] + (
        p.pos_25 - FLOOR(p.pos_25)
      ) * (
        p.sorted_values[CAST(CEIL(p.pos_25) AS BIGINT) + -1] - p.sorted_values[CAST(FLOOR(p.pos_25) AS BIGINT) + -1]
      )
    END AS p25,
    CASE
      WHEN p.n_feature_plays > 0
      THEN p.sorted_values[CAST(FLOOR(p.pos_50) AS BIGINT) + -1] + (
        p.pos_50 - FLOOR(p.pos_50)
      ) * (
        p.sorted_values[CAST(CEIL(p.pos_50) AS BIGINT) + -1] - p.sorted_values[CAST(FLOOR(p.pos_50) AS BIGINT) + -1]
      )
    END AS median,
    CASE
      WHEN p.n_feature_plays > 0
      THEN p.sorted_values[CAST(FLOOR(p.pos_75) AS BIGINT) + -1] + (
        p.pos_75 - FLOOR(p.pos_75)
      ) * (
        p.sorted_values[CAST(CEIL(p.pos_75) AS BIGINT) + -1] - p.sorted_values[CAST(FLOOR(p.pos_75) AS BIGINT) + -1]
      )
    END AS p75,
    p.max_value,
    p.mean,
    p.std
  FROM positions AS p
)
SELECT
  *
FROM final
