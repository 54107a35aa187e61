/* Pearson and Spearman correlation of every pair of audio features, per user, */
/* over the user's music plays that were not skipped and have all nine */
/* features (complete cases). Spearman = Pearson of average ranks (ties share */
/* the mean of their ranks). strength from |pearson_r| (spearman_strength from */
/* |spearman_rho|): >= 0.7 strong, >= 0.4 moderate, >= 0.2 weak, else negligible. */
/* Coefficients are NULL with fewer than 3 plays or a feature without spread. */
/* Average rank = (rank() + plays <= value) / 2: rank() counts the plays below */
/* plus one, and count(*) over the same ordering (default RANGE frame, peers */
/* included) counts the plays at or below; one sort per feature. All 72 */
/* coefficients come from one pass over the plays, then are laid out one row */
/* per pair. */
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
    CAST((
      RANK() OVER (PARTITION BY f.user_id ORDER BY f.danceability) + COUNT(*) OVER (PARTITION BY f.user_id ORDER BY f.danceability)
    ) AS DOUBLE) / 2.0 AS danceability_rank,
    CAST((
      RANK() OVER (PARTITION BY f.user_id ORDER BY f.energy) + COUNT(*) OVER (PARTITION BY f.user_id ORDER BY f.energy)
    ) AS DOUBLE) / 2.0 AS energy_rank,
    CAST((
      RANK() OVER (PARTITION BY f.user_id ORDER BY f.loudness) + COUNT(*) OVER (PARTITION BY f.user_id ORDER BY f.loudness)
    ) AS DOUBLE) / 2.0 AS loudness_rank,
    CAST((
      RANK() OVER (PARTITION BY f.user_id ORDER BY f.speechiness) + COUNT(*) OVER (PARTITION BY f.user_id ORDER BY f.speechiness)
    ) AS DOUBLE) / 2.0 AS speechiness_rank,
    CAST((
      RANK() OVER (PARTITION BY f.user_id ORDER BY f.acousticness) + COUNT(*) OVER (PARTITION BY f.user_id ORDER BY f.acousticness)
    ) AS DOUBLE) / 2.0 AS acousticness_rank,
    CAST((
      RANK() OVER (PARTITION BY f.user_id ORDER BY f.instrumentalness) + COUNT(*) OVER (PARTITION BY f.user_id ORDER BY f.instrumentalness)
    ) AS DOUBLE) / 2.0 AS instrumentalness_rank,
    CAST((
      RANK() OVER (PARTITION BY f.user_id ORDER BY f.liveness) + COUNT(*) OVER (PARTITION BY f.user_id ORDER BY f.liveness)
    ) AS DOUBLE) / 2.0 AS liveness_rank,
    CAST((
      RANK() OVER (PARTITION BY f.user_id ORDER BY f.valence) + COUNT(*) OVER (PARTITION BY f.user_id ORDER BY f.valence)
    ) AS DOUBLE) / 2.0 AS valence_rank,
    CAST((
      RANK() OVER (PARTITION BY f.user_id ORDER BY f.tempo) + COUNT(*) OVER (PARTITION BY f.user_id ORDER BY f.tempo)
    ) AS DOUBLE) / 2.0 AS tempo_rank
  FROM feature_plays AS f
), moments AS (
  SELECT
    r.user_id,
    CAST(COUNT(*) AS BIGINT) AS n_feature_plays,
    STDDEV_POP(r.danceability) AS danceability_sd,
    STDDEV_POP(r.danceability_rank) AS danceability_rank_sd,
    STDDEV_POP(r.energy) AS energy_sd,
    STDDEV_POP(r.energy_rank) AS energy_rank_sd,
    STDDEV_POP(r.loudness) AS loudness_sd,
    STDDEV_POP(r.loudness_rank) AS loudness_rank_sd,
    STDDEV_POP(r.speechiness) AS speechiness_sd,
    STDDEV_POP(r.speechiness_rank) AS speechiness_rank_sd,
    STDDEV_POP(r.acousticness) AS acousticness_sd,
    STDDEV_POP(r.acousticness_rank) AS acousticness_rank_sd,
    STDDEV_POP(r.instrumentalness) AS instrumentalness_sd,
    STDDEV_POP(r.instrumentalness_rank) AS instrumentalness_rank_sd,
    STDDEV_POP(r.liveness) AS liveness_sd,
    STDDEV_POP(r.liveness_rank) AS liveness_rank_sd,
    STDDEV_POP(r.valence) AS valence_sd,
    STDDEV_POP(r.valence_rank) AS valence_rank_sd,
    STDDEV_POP(r.tempo) AS tempo_sd,
    STDDEV_POP(r.tempo_rank) AS tempo_rank_sd,
    CORR(r.danceability, r.energy) AS pearson_danceability__energy,
    CORR(r.danceability, r.loudness) AS pearson_danceability__loudness,
    CORR(r.danceability, r.speechiness) AS pearson_danceability__speechiness,
    CORR(r.danceability, r.acousticness) AS pearson_danceability__acousticness,
    CORR(r.danceability, r.instrumentalness) AS pearson_danceability__instrumentalness,
    CORR(r.danceability, r.liveness) AS pearson_danceability__liveness,
    CORR(r.danceability, r.valence) AS pearson_danceability__valence,
    CORR(r.danceability, r.tempo) AS pearson_danceability__tempo,
    CORR(r.energy, r.loudness) AS pearson_energy__loudness,
    CORR(r.energy, r.speechiness) AS pearson_energy__speechiness,
    CORR(r.energy, r.acousticness) AS pearson_energy__acousticness,
    CORR(r.energy, r.instrumentalness) AS pearson_energy__instrumentalness,
    CORR(r.energy, r.liveness) AS pearson_energy__liveness,
    CORR(r.energy, r.valence) AS pearson_energy__valence,
    CORR(r.energy, r.tempo) AS pearson_energy__tempo,
    CORR(r.loudness, r.speechiness) AS pearson_loudness__speechiness,
    CORR(r.loudness, r.acousticness) AS pearson_loudness__acousticness,
    CORR(r.loudness, r.instrumentalness) AS pearson_loudness__instrumentalness,
    CORR(r.loudness, r.liveness) AS pearson_loudness__liveness,
    CORR(r.loudness, r.valence) AS pearson_loudness__valence,
    CORR(r.loudness, r.tempo) AS pearson_loudness__tempo,
    CORR(r.speechiness, r.acousticness) AS pearson_speechiness__acousticness,
    CORR(r.speechiness, r.instrumentalness) AS pearson_speechiness__instrumentalness,
    CORR(r.speechiness, r.liveness) AS pearson_speechiness__liveness,
    CORR(r.speechiness, r.valence) AS pearson_speechiness__valence,
    CORR(r.speechiness, r.tempo) AS pearson_speechiness__tempo,
    CORR(r.acousticness, r.instrumentalness) AS pearson_acousticness__instrumentalness,
    CORR(r.acousticness, r.liveness) AS pearson_acousticness__liveness,
    CORR(r.acousticness, r.valence) AS pearson_acousticness__valence,
    CORR(r.acousticness, r.tempo) AS pearson_acousticness__tempo,
    CORR(r.instrumentalness, r.liveness) AS pearson_instrumentalness__liveness,
    CORR(r.instrumentalness, r.valence) AS pearson_instrumentalness__valence,
    CORR(r.instrumentalness, r.tempo) AS pearson_instrumentalness__tempo,
    CORR(r.liveness, r.valence) AS pearson_liveness__valence,
    CORR(r.liveness, r.tempo) AS pearson_liveness__tempo,
    CORR(r.valence, r.tempo) AS pearson_valence__tempo,
    CORR(r.danceability_rank, r.energy_rank) AS spearman_danceability__energy,
    CORR(r.danceability_rank, r.loudness_rank) AS spearman_danceability__loudness,
    CORR(r.danceability_rank, r.speechiness_rank) AS spearman_danceability__speechiness,
    CORR(r.danceability_rank, r.acousticness_rank) AS spearman_danceability__acousticness,
    CORR(r.danceability_rank, r.instrumentalness_rank) AS spearman_danceability__instrumentalness,
    CORR(r.danceability_rank, r.liveness_rank) AS spearman_danceability__liveness,
    CORR(r.danceability_rank, r.valence_rank) AS spearman_danceability__valence,
    CORR(r.danceability_rank, r.tempo_rank) AS spearman_danceability__tempo,
    CORR(r.energy_rank, r.loudness_rank) AS spearman_energy__loudness,
    CORR(r.energy_rank, r.speechiness_rank) AS spearman_energy__speechiness,
    CORR(r.energy_rank, r.acousticness_rank) AS spearman_energy__acousticness,
    CORR(r.energy_rank, r.instrumentalness_rank) AS spearman_energy__instrumentalness,
    CORR(r.energy_rank, r.liveness_rank) AS spearman_energy__liveness,
    CORR(r.energy_rank, r.valence_rank) AS spearman_energy__valence,
    CORR(r.energy_rank, r.tempo_rank) AS spearman_energy__tempo,
    CORR(r.loudness_rank, r.speechiness_rank) AS spearman_loudness__speechiness,
    CORR(r.loudness_rank, r.acousticness_rank) AS spearman_loudness__acousticness,
    CORR(r.loudness_rank, r.instrumentalness_rank) AS spearman_loudness__instrumentalness,
    CORR(r.loudness_rank, r.liveness_rank) AS spearman_loudness__liveness,
    CORR(r.loudness_rank, r.valence_rank) AS spearman_loudness__valence,
    CORR(r.loudness_rank, r.tempo_rank) AS spearman_loudness__tempo,
    CORR(r.speechiness_rank, r.acousticness_rank) AS spearman_speechiness__acousticness,
    CORR(r.speechiness_rank, r.instrumentalness_rank) AS spearman_speechiness__instrumentalness,
    CORR(r.speechiness_rank, r.liveness_rank) AS spearman_speechiness__liveness,
    CORR(r.speechiness_rank, r.valence_rank) AS spearman_speechiness__valence,
    CORR(r.speechiness_rank, r.tempo_rank) AS spearman_speechiness__tempo,
    CORR(r.acousticness_rank, r.instrumentalness_rank) AS spearman_acousticness__instrumentalness,
    CORR(r.acousticness_rank, r.liveness_rank) AS spearman_acousticness__liveness,
    CORR(r.acousticness_rank, r.valence_rank) AS spearman_acousticness__valence,
    CORR(r.acousticness_rank, r.tempo_rank) AS spearman_acousticness__tempo,
    CORR(r.instrumentalness_rank, r.liveness_rank) AS spearman_instrumentalness__liveness,
    CORR(r.instrumentalness_rank, r.valence_rank) AS spearman_instrumentalness__valence,
    CORR(r.instrumentalness_rank, r.tempo_rank) AS spearman_instrumentalness__tempo,
    CORR(r.liveness_rank, r.valence_rank) AS spearman_liveness__valence,
    CORR(r.liveness_rank, r.tempo_rank) AS spearman_liveness__tempo,
    CORR(r.valence_rank, r.tempo_rank) AS spearman_valence__tempo
  FROM ranked AS r
  GROUP BY
    r.user_id
), feature_pairs AS (
  SELECT
    *
  FROM (VALUES
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
    ('valence', 'tempo')) AS feature_pairs(feature_x, feature_y)
), paired AS (
  SELECT
    m.user_id,
    p.feature_x,
    p.feature_y,
    m.n_feature_plays,
    CASE p.feature_x
      WHEN 'danceability'
      THEN m.danceability_sd
      WHEN 'energy'
      THEN m.energy_sd
      WHEN 'loudness'
      THEN m.loudness_sd
      WHEN 'speechiness'
      THEN m.speechiness_sd
      WHEN 'acousticness'
      THEN m.acousticness_sd
      WHEN 'instrumentalness'
      THEN m.instrumentalness_sd
      WHEN 'liveness'
      THEN m.liveness_sd
      WHEN 'valence'
      THEN m.valence_sd
      WHEN 'tempo'
      THEN m.tempo_sd
    END AS sd_x,
    CASE p.feature_y
      WHEN 'danceability'
      THEN m.danceability_sd
      WHEN 'energy'
      THEN m.energy_sd
      WHEN 'loudness'
      THEN m.loudness_sd
      WHEN 'speechiness'
      THEN m.speechiness_sd
      WHEN 'acousticness'
      THEN m.acousticness_sd
      WHEN 'instrumentalness'
      THEN m.instrumentalness_sd
      WHEN 'liveness'
      THEN m.liveness_sd
      WHEN 'valence'
      THEN m.valence_sd
      WHEN 'tempo'
      THEN m.tempo_sd
    END AS sd_y,
    CASE p.feature_x
      WHEN 'danceability'
      THEN m.danceability_rank_sd
      WHEN 'energy'
      THEN m.energy_rank_sd
      WHEN 'loudness'
      THEN m.loudness_rank_sd
      WHEN 'speechiness'
      THEN m.speechiness_rank_sd
      WHEN 'acousticness'
      THEN m.acousticness_rank_sd
      WHEN 'instrumentalness'
      THEN m.instrumentalness_rank_sd
      WHEN 'liveness'
      THEN m.liveness_rank_sd
      WHEN 'valence'
      THEN m.valence_rank_sd
      WHEN 'tempo'
      THEN m.tempo_rank_sd
    END AS sd_x_rank,
    CASE p.feature_y
      WHEN 'danceability'
      THEN m.danceability_rank_sd
      WHEN 'energy'
      THEN m.energy_rank_sd
      WHEN 'loudness'
      THEN m.loudness_rank_sd
      WHEN 'speechiness'
      THEN m.speechiness_rank_sd
      WHEN 'acousticness'
      THEN m.acousticness_rank_sd
      WHEN 'instrumentalness'
      THEN m.instrumentalness_rank_sd
      WHEN 'liveness'
      THEN m.liveness_rank_sd
      WHEN 'valence'
      THEN m.valence_rank_sd
      WHEN 'tempo'
      THEN m.tempo_rank_sd
    END AS sd_y_rank,
    CASE CONCAT(CAST(p.feature_x AS VARCHAR), CAST('__' AS VARCHAR), CAST(p.feature_y AS VARCHAR))
      WHEN 'danceability__energy'
      THEN m.pearson_danceability__energy
      WHEN 'danceability__loudness'
      THEN m.pearson_danceability__loudness
      WHEN 'danceability__speechiness'
      THEN m.pearson_danceability__speechiness
      WHEN 'danceability__acousticness'
      THEN m.pearson_danceability__acousticness
      WHEN 'danceability__instrumentalness'
      THEN m.pearson_danceability__instrumentalness
      WHEN 'danceability__liveness'
      THEN m.pearson_danceability__liveness
      WHEN 'danceability__valence'
      THEN m.pearson_danceability__valence
      WHEN 'danceability__tempo'
      THEN m.pearson_danceability__tempo
      WHEN 'energy__loudness'
      THEN m.pearson_energy__loudness
      WHEN 'energy__speechiness'
      THEN m.pearson_energy__speechiness
      WHEN 'energy__acousticness'
      THEN m.pearson_energy__acousticness
      WHEN 'energy__instrumentalness'
      THEN m.pearson_energy__instrumentalness
      WHEN 'energy__liveness'
      THEN m.pearson_energy__liveness
      WHEN 'energy__valence'
      THEN m.pearson_energy__valence
      WHEN 'energy__tempo'
      THEN m.pearson_energy__tempo
      WHEN 'loudness__speechiness'
      THEN m.pearson_loudness__speechiness
      WHEN 'loudness__acousticness'
      THEN m.pearson_loudness__acousticness
      WHEN 'loudness__instrumentalness'
      THEN m.pearson_loudness__instrumentalness
      WHEN 'loudness__liveness'
      THEN m.pearson_loudness__liveness
      WHEN 'loudness__valence'
      THEN m.pearson_loudness__valence
      WHEN 'loudness__tempo'
      THEN m.pearson_loudness__tempo
      WHEN 'speechiness__acousticness'
      THEN m.pearson_speechiness__acousticness
      WHEN 'speechiness__instrumentalness'
      THEN m.pearson_speechiness__instrumentalness
      WHEN 'speechiness__liveness'
      THEN m.pearson_speechiness__liveness
      WHEN 'speechiness__valence'
      THEN m.pearson_speechiness__valence
      WHEN 'speechiness__tempo'
      THEN m.pearson_speechiness__tempo
      WHEN 'acousticness__instrumentalness'
      THEN m.pearson_acousticness__instrumentalness
      WHEN 'acousticness__liveness'
      THEN m.pearson_acousticness__liveness
      WHEN 'acousticness__valence'
      THEN m.pearson_acousticness__valence
      WHEN 'acousticness__tempo'
      THEN m.pearson_acousticness__tempo
      WHEN 'instrumentalness__liveness'
      THEN m.pearson_instrumentalness__liveness
      WHEN 'instrumentalness__valence'
      THEN m.pearson_instrumentalness__valence
      WHEN 'instrumentalness__tempo'
      THEN m.pearson_instrumentalness__tempo
      WHEN 'liveness__valence'
      THEN m.pearson_liveness__valence
      WHEN 'liveness__tempo'
      THEN m.pearson_liveness__tempo
      WHEN 'valence__tempo'
      THEN m.pearson_valence__tempo
    END AS pearson_raw,
    CASE CONCAT(CAST(p.feature_x AS VARCHAR), CAST('__' AS VARCHAR), CAST(p.feature_y AS VARCHAR))
      WHEN 'danceability__energy'
      THEN m.spearman_danceability__energy
      WHEN 'danceability__loudness'
      THEN m.spearman_danceability__loudness
      WHEN 'danceability__speechiness'
      THEN m.spearman_danceability__speechiness
      WHEN 'danceability__acousticness'
      THEN m.spearman_danceability__acousticness
      WHEN 'danceability__instrumentalness'
      THEN m.spearman_danceability__instrumentalness
      WHEN 'danceability__liveness'
      THEN m.spearman_danceability__liveness
      WHEN 'danceability__valence'
      THEN m.spearman_danceability__valence
      WHEN 'danceability__tempo'
      THEN m.spearman_danceability__tempo
      WHEN 'energy__loudness'
      THEN m.spearman_energy__loudness
      WHEN 'energy__speechiness'
      THEN m.spearman_energy__speechiness
      WHEN 'energy__acousticness'
      THEN m.spearman_energy__acousticness
      WHEN 'energy__instrumentalness'
      THEN m.spearman_energy__instrumentalness
      WHEN 'energy__liveness'
      THEN m.spearman_energy__liveness
      WHEN 'energy__valence'
      THEN m.spearman_energy__valence
      WHEN 'energy__tempo'
      THEN m.spearman_energy__tempo
      WHEN 'loudness__speechiness'
      THEN m.spearman_loudness__speechiness
      WHEN 'loudness__acousticness'
      THEN m.spearman_loudness__acousticness
      WHEN 'loudness__instrumentalness'
      THEN m.spearman_loudness__instrumentalness
      WHEN 'loudness__liveness'
      THEN m.spearman_loudness__liveness
      WHEN 'loudness__valence'
      THEN m.spearman_loudness__valence
      WHEN 'loudness__tempo'
      THEN m.spearman_loudness__tempo
      WHEN 'speechiness__acousticness'
      THEN m.spearman_speechiness__acousticness
      WHEN 'speechiness__instrumentalness'
      THEN m.spearman_speechiness__instrumentalness
      WHEN 'speechiness__liveness'
      THEN m.spearman_speechiness__liveness
      WHEN 'speechiness__valence'
      THEN m.spearman_speechiness__valence
      WHEN 'speechiness__tempo'
      THEN m.spearman_speechiness__tempo
      WHEN 'acousticness__instrumentalness'
      THEN m.spearman_acousticness__instrumentalness
      WHEN 'acousticness__liveness'
      THEN m.spearman_acousticness__liveness
      WHEN 'acousticness__valence'
      THEN m.spearman_acousticness__valence
      WHEN 'acousticness__tempo'
      THEN m.spearman_acousticness__tempo
      WHEN 'instrumentalness__liveness'
      THEN m.spearman_instrumentalness__liveness
      WHEN 'instrumentalness__valence'
      THEN m.spearman_instrumentalness__valence
      WHEN 'instrumentalness__tempo'
      THEN m.spearman_instrumentalness__tempo
      WHEN 'liveness__valence'
      THEN m.spearman_liveness__valence
      WHEN 'liveness__tempo'
      THEN m.spearman_liveness__tempo
      WHEN 'valence__tempo'
      THEN m.spearman_valence__tempo
    END AS spearman_raw
  FROM moments AS m
  CROSS JOIN feature_pairs AS p
), coefficients AS (
  SELECT
    m.user_id,
    m.feature_x,
    m.feature_y,
    m.n_feature_plays,
    CASE
      WHEN m.n_feature_plays >= 3 AND m.sd_x > 1e-9 AND m.sd_y > 1e-9
      THEN GREATEST(-1.0, LEAST(1.0, m.pearson_raw))
    END AS pearson_r,
    CASE
      WHEN m.n_feature_plays >= 3 AND m.sd_x_rank > 1e-9 AND m.sd_y_rank > 1e-9
      THEN GREATEST(-1.0, LEAST(1.0, m.spearman_raw))
    END AS spearman_rho
  FROM paired AS m
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
