/* Pearson and Spearman correlation of every pair of audio features, per user, */
/* over the user's music plays that were not skipped and have all nine */
/* features (complete cases). Spearman = Pearson of average ranks (ties share */
/* the mean of their ranks). strength from |pearson_r| (spearman_strength from */
/* |spearman_rho|): >= 0.7 strong, >= 0.4 moderate, >= 0.2 weak, else negligible. */
/* Coefficients are NULL with fewer than 3 plays or a feature without spread. */
WITH listening AS (
  SELECT
    *
  FROM listening_with_features
), params AS (
  SELECT
    *
  FROM run_params
), feature_plays AS (
  SELECT
    l.user_id,
    l.danceability,
    l.energy,
    l.loudness,
    l.speechiness,
    l.acousticness,
    l.instrumentalness,
    l.liveness,
    l.valence,
    l.tempo
  FROM listening AS l
  CROSS JOIN params AS p
  WHERE
    COALESCE(l.is_music, FALSE)
    AND NOT COALESCE(l.is_skip, FALSE)
    AND NOT l.user_id IS NULL
    AND (
      COALESCE(l.feature_source, '') <> 'synthetic' OR p.allow_synthetic
    )
    AND NOT l.danceability IS NULL
    AND NOT l.energy IS NULL
    AND NOT l.loudness IS NULL
    AND NOT l.speechiness IS NULL
    AND NOT l.acousticness IS NULL
    AND NOT l.instrumentalness IS NULL
    AND NOT l.liveness IS NULL
    AND NOT l.valence IS NULL
    AND NOT l.tempo IS NULL
), ranked AS (
  SELECT
    f.user_id,
    f.danceability,
    f.energy,
    f.loudness,
    f.speechiness,
    f.acousticness,
    f.instrumentalness,
    f.liveness,
    f.valence,
    f.tempo,
    RANK() OVER (PARTITION BY f.user_id ORDER BY f.danceability NULLS LAST) + (
      COUNT(*) OVER (PARTITION BY f.user_id, f.danceability) - 1
    ) / 2.0 AS danceability_rank,
    RANK() OVER (PARTITION BY f.user_id ORDER BY f.energy NULLS LAST) + (
      COUNT(*) OVER (PARTITION BY f.user_id, f.energy) - 1
    ) / 2.0 AS energy_rank,
    RANK() OVER (PARTITION BY f.user_id ORDER BY f.loudness NULLS LAST) + (
      COUNT(*) OVER (PARTITION BY f.user_id, f.loudness) - 1
    ) / 2.0 AS loudness_rank,
    RANK() OVER (PARTITION BY f.user_id ORDER BY f.speechiness NULLS LAST) + (
      COUNT(*) OVER (PARTITION BY f.user_id, f.speechiness) - 1
    ) / 2.0 AS speechiness_rank,
    RANK() OVER (PARTITION BY f.user_id ORDER BY f.acousticness NULLS LAST) + (
      COUNT(*) OVER (PARTITION BY f.user_id, f.acousticness) - 1
    ) / 2.0 AS acousticness_rank,
    RANK() OVER (PARTITION BY f.user_id ORDER BY f.instrumentalness NULLS LAST) + (
      COUNT(*) OVER (PARTITION BY f.user_id, f.instrumentalness) - 1
    ) / 2.0 AS instrumentalness_rank,
    RANK() OVER (PARTITION BY f.user_id ORDER BY f.liveness NULLS LAST) + (
      COUNT(*) OVER (PARTITION BY f.user_id, f.liveness) - 1
    ) / 2.0 AS liveness_rank,
    RANK() OVER (PARTITION BY f.user_id ORDER BY f.valence NULLS LAST) + (
      COUNT(*) OVER (PARTITION BY f.user_id, f.valence) - 1
    ) / 2.0 AS valence_rank,
    RANK() OVER (PARTITION BY f.user_id ORDER BY f.tempo NULLS LAST) + (
      COUNT(*) OVER (PARTITION BY f.user_id, f.tempo) - 1
    ) / 2.0 AS tempo_rank
  FROM feature_plays AS f
), feature_pairs AS (
  SELECT
    *
  FROM VALUES
    ('danceability', 'energy'),
    ('danceability', 'loudness'),
    ('danceability', 'speechiness'),
    ('danceability', 'acousticness'),
    ('danceability', 'instrumentalness'),
    ('danceability', 'liveness'),
    ('danceability', 'valence'),
    ('danceability', 'tempo'),
    ('energy', 'loudness'),
    ('energy', 'speechiness'),
    ('energy', 'acousticness'),
    ('energy', 'instrumentalness'),
    ('energy', 'liveness'),
    ('energy', 'valence'),
    ('energy', 'tempo'),
    ('loudness', 'speechiness'),
    ('loudness', 'acousticness'),
    ('loudness', 'instrumentalness'),
    ('loudness', 'liveness'),
    ('loudness', 'valence'),
    ('loudness', 'tempo'),
    ('speechiness', 'acousticness'),
    ('speechiness', 'instrumentalness'),
    ('speechiness', 'liveness'),
    ('speechiness', 'valence'),
    ('speechiness', 'tempo'),
    ('acousticness', 'instrumentalness'),
    ('acousticness', 'liveness'),
    ('acousticness', 'valence'),
    ('acousticness', 'tempo'),
    ('instrumentalness', 'liveness'),
    ('instrumentalness', 'valence'),
    ('instrumentalness', 'tempo'),
    ('liveness', 'valence'),
    ('liveness', 'tempo'),
    ('valence', 'tempo') AS feature_pairs(feature_x, feature_y)
), paired AS (
  SELECT
    r.user_id,
    p.feature_x,
    p.feature_y,
    CASE p.feature_x
      WHEN 'danceability'
      THEN r.danceability
      WHEN 'energy'
      THEN r.energy
      WHEN 'loudness'
      THEN r.loudness
      WHEN 'speechiness'
      THEN r.speechiness
      WHEN 'acousticness'
      THEN r.acousticness
      WHEN 'instrumentalness'
      THEN r.instrumentalness
      WHEN 'liveness'
      THEN r.liveness
      WHEN 'valence'
      THEN r.valence
      WHEN 'tempo'
      THEN r.tempo
    END AS x,
    CASE p.feature_y
      WHEN 'danceability'
      THEN r.danceability
      WHEN 'energy'
      THEN r.energy
      WHEN 'loudness'
      THEN r.loudness
      WHEN 'speechiness'
      THEN r.speechiness
      WHEN 'acousticness'
      THEN r.acousticness
      WHEN 'instrumentalness'
      THEN r.instrumentalness
      WHEN 'liveness'
      THEN r.liveness
      WHEN 'valence'
      THEN r.valence
      WHEN 'tempo'
      THEN r.tempo
    END AS y,
    CASE p.feature_x
      WHEN 'danceability'
      THEN r.danceability_rank
      WHEN 'energy'
      THEN r.energy_rank
      WHEN 'loudness'
      THEN r.loudness_rank
      WHEN 'speechiness'
      THEN r.speechiness_rank
      WHEN 'acousticness'
      THEN r.acousticness_rank
      WHEN 'instrumentalness'
      THEN r.instrumentalness_rank
      WHEN 'liveness'
      THEN r.liveness_rank
      WHEN 'valence'
      THEN r.valence_rank
      WHEN 'tempo'
      THEN r.tempo_rank
    END AS x_rank,
    CASE p.feature_y
      WHEN 'danceability'
      THEN r.danceability_rank
      WHEN 'energy'
      THEN r.energy_rank
      WHEN 'loudness'
      THEN r.loudness_rank
      WHEN 'speechiness'
      THEN r.speechiness_rank
      WHEN 'acousticness'
      THEN r.acousticness_rank
      WHEN 'instrumentalness'
      THEN r.instrumentalness_rank
      WHEN 'liveness'
      THEN r.liveness_rank
      WHEN 'valence'
      THEN r.valence_rank
      WHEN 'tempo'
      THEN r.tempo_rank
    END AS y_rank
  FROM ranked AS r
  CROSS JOIN feature_pairs AS p
), moments AS (
  SELECT
    d.user_id,
    d.feature_x,
    d.feature_y,
    CAST(COUNT(*) AS BIGINT) AS n_feature_plays,
    STDDEV_POP(d.x) AS sd_x,
    STDDEV_POP(d.y) AS sd_y,
    STDDEV_POP(d.x_rank) AS sd_x_rank,
    STDDEV_POP(d.y_rank) AS sd_y_rank,
    CORR(d.x, d.y) AS r_xy,
    CORR(d.x_rank, d.y_rank) AS r_rank
  FROM paired AS d
  GROUP BY
    d.user_id,
    d.feature_x,
    d.feature_y
), coefficients AS (
  SELECT
    m.user_id,
    m.feature_x,
    m.feature_y,
    m.n_feature_plays,
    CASE
      WHEN m.n_feature_plays >= 3 AND m.sd_x > 1e-9 AND m.sd_y > 1e-9
      THEN GREATEST(-1.0, LEAST(1.0, m.r_xy))
    END AS pearson_r,
    CASE
      WHEN m.n_feature_plays >= 3 AND m.sd_x_rank > 1e-9 AND m.sd_y_rank > 1e-9
      THEN GREATEST(-1.0, LEAST(1.0, m.r_rank))
    END AS spearman_rho
  FROM moments AS m
), final AS (
  SELECT
    c.user_id,
    c.feature_x,
    c.feature_y,
    c.n_feature_plays,
    c.pearson_r,
    c.spearman_rho,
    CASE
      WHEN c.pearson_r IS NULL
      THEN NULL
      WHEN ABS(c.pearson_r) >= 0.7
      THEN 'strong'
      WHEN ABS(c.pearson_r) >= 0.4
      THEN 'moderate'
      WHEN ABS(c.pearson_r) >= 0.2
      THEN 'weak'
      ELSE 'negligible'
    END AS strength,
    CASE
      WHEN c.spearman_rho IS NULL
      THEN NULL
      WHEN ABS(c.spearman_rho) >= 0.7
      THEN 'strong'
      WHEN ABS(c.spearman_rho) >= 0.4
      THEN 'moderate'
      WHEN ABS(c.spearman_rho) >= 0.2
      THEN 'weak'
      ELSE 'negligible'
    END AS spearman_strength,
    CASE
      WHEN c.pearson_r > 0
      THEN 'positive'
      WHEN c.pearson_r < 0
      THEN 'negative'
      WHEN c.pearson_r = 0
      THEN 'none'
    END AS direction
  FROM coefficients AS c
)
SELECT
  *
FROM final
