/* Pearson and Spearman correlation of every pair of audio features, per user, */
/* over the user's music plays that were not skipped and have all nine */
/* features (complete cases). Spearman = Pearson of average ranks (ties share */
/* the mean of their ranks). strength from |pearson_r| (spearman_strength from */
/* |spearman_rho|): >= 0.7 strong, >= 0.4 moderate, >= 0.2 weak, else negligible. */
/* Coefficients are NULL with fewer than 3 plays or a feature without spread. */
/* A track's features repeat on each of its plays, so the plays are counted */
/* per distinct feature tuple (weight w, from user_track_features) and */
/* everything below runs on those tuples: the average rank of a value is (plays at or below it) - */
/* (plays at it - 1) / 2, one sort per feature; the coefficients are */
/* weighted central moments (means first, then sums of w * dx * dy), which is */
/* what corr() over the plays computes. All 72 coefficients come from one pass */
/* over the tuples, then are laid out one row per pair. */
WITH user_tracks AS (
  SELECT
    *
  FROM user_track_features
), params AS (
  SELECT
    *
  FROM run_params
), tuples AS (
  /* plays per user and distinct feature tuple: a track's features are its */
  /* plays' features, so the plays that count (not skipped, trusted, all nine */
  /* features) are each track's n_plays - n_skips */
  SELECT
    t.user_id,
    t.danceability,
    t.energy,
    t.loudness,
    t.speechiness,
    t.acousticness,
    t.instrumentalness,
    t.liveness,
    t.valence,
    t.tempo,
    SUM(t.n_plays - t.n_skips) AS w
  FROM user_tracks AS t
  CROSS JOIN params AS p
  WHERE
    t.n_plays > t.n_skips
    AND (
      COALESCE(t.feature_source, '') <> 'synthetic' OR p.allow_synthetic
    )
    AND NOT t.danceability IS NULL
    AND NOT t.energy IS NULL
    AND NOT t.loudness IS NULL
    AND NOT t.speechiness IS NULL
    AND NOT t.acousticness IS NULL
    AND NOT t.instrumentalness IS NULL
    AND NOT t.liveness IS NULL
    AND NOT t.valence IS NULL
    AND NOT t.tempo IS NULL
  GROUP BY
    t.user_id,
    t.danceability,
    t.energy,
    t.loudness,
    t.speechiness,
    t.acousticness,
    t.instrumentalness,
    t.liveness,
    t.valence,
    t.tempo
), ranked AS (
  SELECT
    t.*,
    SUM(t.w) OVER (PARTITION BY t.user_id ORDER BY t.danceability) - CAST((
      SUM(t.w) OVER (
        PARTITION BY t.user_id
        ORDER BY t.danceability
        range BETWEEN CURRENT ROW AND CURRENT ROW
      ) - 1
    ) AS DOUBLE) / 2.0 AS danceability_rank,
    SUM(t.w) OVER (PARTITION BY t.user_id ORDER BY t.energy) - CAST((
      SUM(t.w) OVER (PARTITION BY t.user_id ORDER BY t.energy range BETWEEN CURRENT ROW AND CURRENT ROW) - 1
    ) AS DOUBLE) / 2.0 AS energy_rank,
    SUM(t.w) OVER (PARTITION BY t.user_id ORDER BY t.loudness) - CAST((
      SUM(t.w) OVER (
        PARTITION BY t.user_id
        ORDER BY t.loudness
        range BETWEEN CURRENT ROW AND CURRENT ROW
      ) - 1
    ) AS DOUBLE) / 2.0 AS loudness_rank,
    SUM(t.w) OVER (PARTITION BY t.user_id ORDER BY t.speechiness) - CAST((
      SUM(t.w) OVER (
        PARTITION BY t.user_id
        ORDER BY t.speechiness
        range BETWEEN CURRENT ROW AND CURRENT ROW
      ) - 1
    ) AS DOUBLE) / 2.0 AS speechiness_rank,
    SUM(t.w) OVER (PARTITION BY t.user_id ORDER BY t.acousticness) - CAST((
      SUM(t.w) OVER (
        PARTITION BY t.user_id
        ORDER BY t.acousticness
        range BETWEEN CURRENT ROW AND CURRENT ROW
      ) - 1
    ) AS DOUBLE) / 2.0 AS acousticness_rank,
    SUM(t.w) OVER (PARTITION BY t.user_id ORDER BY t.instrumentalness) - CAST((
      SUM(t.w) OVER (
        PARTITION BY t.user_id
        ORDER BY t.instrumentalness
        range BETWEEN CURRENT ROW AND CURRENT ROW
      ) - 1
    ) AS DOUBLE) / 2.0 AS instrumentalness_rank,
    SUM(t.w) OVER (PARTITION BY t.user_id ORDER BY t.liveness) - CAST((
      SUM(t.w) OVER (
        PARTITION BY t.user_id
        ORDER BY t.liveness
        range BETWEEN CURRENT ROW AND CURRENT ROW
      ) - 1
    ) AS DOUBLE) / 2.0 AS liveness_rank,
    SUM(t.w) OVER (PARTITION BY t.user_id ORDER BY t.valence) - CAST((
      SUM(t.w) OVER (
        PARTITION BY t.user_id
        ORDER BY t.valence
        range BETWEEN CURRENT ROW AND CURRENT ROW
      ) - 1
    ) AS DOUBLE) / 2.0 AS valence_rank,
    SUM(t.w) OVER (PARTITION BY t.user_id ORDER BY t.tempo) - CAST((
      SUM(t.w) OVER (PARTITION BY t.user_id ORDER BY t.tempo range BETWEEN CURRENT ROW AND CURRENT ROW) - 1
    ) AS DOUBLE) / 2.0 AS tempo_rank
  FROM tuples AS t
), means AS (
  SELECT
    r.user_id,
    CAST(SUM(r.w) AS BIGINT) AS n_feature_plays,
    CAST(SUM(r.w * r.danceability) AS DOUBLE) / SUM(r.w) AS danceability_mean,
    CAST(SUM(r.w * r.energy) AS DOUBLE) / SUM(r.w) AS energy_mean,
    CAST(SUM(r.w * r.loudness) AS DOUBLE) / SUM(r.w) AS loudness_mean,
    CAST(SUM(r.w * r.speechiness) AS DOUBLE) / SUM(r.w) AS speechiness_mean,
    CAST(SUM(r.w * r.acousticness) AS DOUBLE) / SUM(r.w) AS acousticness_mean,
    CAST(SUM(r.w * r.instrumentalness) AS DOUBLE) / SUM(r.w) AS instrumentalness_mean,
    CAST(SUM(r.w * r.liveness) AS DOUBLE) / SUM(r.w) AS liveness_mean,
    CAST(SUM(r.w * r.valence) AS DOUBLE) / SUM(r.w) AS valence_mean,
    CAST(SUM(r.w * r.tempo) AS DOUBLE) / SUM(r.w) AS tempo_mean,
    CAST(SUM(r.w * r.danceability_rank) AS DOUBLE) / SUM(r.w) AS danceability_rank_mean,
    CAST(SUM(r.w * r.energy_rank) AS DOUBLE) / SUM(r.w) AS energy_rank_mean,
    CAST(SUM(r.w * r.loudness_rank) AS DOUBLE) / SUM(r.w) AS loudness_rank_mean,
    CAST(SUM(r.w * r.speechiness_rank) AS DOUBLE) / SUM(r.w) AS speechiness_rank_mean,
    CAST(SUM(r.w * r.acousticness_rank) AS DOUBLE) / SUM(r.w) AS acousticness_rank_mean,
    CAST(SUM(r.w * r.instrumentalness_rank) AS DOUBLE) / SUM(r.w) AS instrumentalness_rank_mean,
    CAST(SUM(r.w * r.liveness_rank) AS DOUBLE) / SUM(r.w) AS liveness_rank_mean,
    CAST(SUM(r.w * r.valence_rank) AS DOUBLE) / SUM(r.w) AS valence_rank_mean,
    CAST(SUM(r.w * r.tempo_rank) AS DOUBLE) / SUM(r.w) AS tempo_rank_mean
  FROM ranked AS r
  GROUP BY
    r.user_id
), centered AS (
  SELECT
    r.user_id,
    r.w,
    r.danceability - m.danceability_mean AS danceability_d,
    r.energy - m.energy_mean AS energy_d,
    r.loudness - m.loudness_mean AS loudness_d,
    r.speechiness - m.speechiness_mean AS speechiness_d,
    r.acousticness - m.acousticness_mean AS acousticness_d,
    r.instrumentalness - m.instrumentalness_mean AS instrumentalness_d,
    r.liveness - m.liveness_mean AS liveness_d,
    r.valence - m.valence_mean AS valence_d,
    r.tempo - m.tempo_mean AS tempo_d,
    r.danceability_rank - m.danceability_rank_mean AS danceability_rank_d,
    r.energy_rank - m.energy_rank_mean AS energy_rank_d,
    r.loudness_rank - m.loudness_rank_mean AS loudness_rank_d,
    r.speechiness_rank - m.speechiness_rank_mean AS speechiness_rank_d,
    r.acousticness_rank - m.acousticness_rank_mean AS acousticness_rank_d,
    r.instrumentalness_rank - m.instrumentalness_rank_mean AS instrumentalness_rank_d,
    r.liveness_rank - m.liveness_rank_mean AS liveness_rank_d,
    r.valence_rank - m.valence_rank_mean AS valence_rank_d,
    r.tempo_rank - m.tempo_rank_mean AS tempo_rank_d
  FROM ranked AS r
  INNER JOIN means AS m
    ON r.user_id = m.user_id
), sums AS (
  SELECT
    c.user_id,
    SUM(c.w * c.danceability_d * c.danceability_d) AS danceability_ss,
    SUM(c.w * c.danceability_rank_d * c.danceability_rank_d) AS danceability_rank_ss,
    SUM(c.w * c.energy_d * c.energy_d) AS energy_ss,
    SUM(c.w * c.energy_rank_d * c.energy_rank_d) AS energy_rank_ss,
    SUM(c.w * c.loudness_d * c.loudness_d) AS loudness_ss,
    SUM(c.w * c.loudness_rank_d * c.loudness_rank_d) AS loudness_rank_ss,
    SUM(c.w * c.speechiness_d * c.speechiness_d) AS speechiness_ss,
    SUM(c.w * c.speechiness_rank_d * c.speechiness_rank_d) AS speechiness_rank_ss,
    SUM(c.w * c.acousticness_d * c.acousticness_d) AS acousticness_ss,
    SUM(c.w * c.acousticness_rank_d * c.acousticness_rank_d) AS acousticness_rank_ss,
    SUM(c.w * c.instrumentalness_d * c.instrumentalness_d) AS instrumentalness_ss,
    SUM(c.w * c.instrumentalness_rank_d * c.instrumentalness_rank_d) AS instrumentalness_rank_ss,
    SUM(c.w * c.liveness_d * c.liveness_d) AS liveness_ss,
    SUM(c.w * c.liveness_rank_d * c.liveness_rank_d) AS liveness_rank_ss,
    SUM(c.w * c.valence_d * c.valence_d) AS valence_ss,
    SUM(c.w * c.valence_rank_d * c.valence_rank_d) AS valence_rank_ss,
    SUM(c.w * c.tempo_d * c.tempo_d) AS tempo_ss,
    SUM(c.w * c.tempo_rank_d * c.tempo_rank_d) AS tempo_rank_ss,
    SUM(c.w * c.danceability_d * c.energy_d) AS danceability__energy_sp,
    SUM(c.w * c.danceability_d * c.loudness_d) AS danceability__loudness_sp,
    SUM(c.w * c.danceability_d * c.speechiness_d) AS danceability__speechiness_sp,
    SUM(c.w * c.danceability_d * c.acousticness_d) AS danceability__acousticness_sp,
    SUM(c.w * c.danceability_d * c.instrumentalness_d) AS danceability__instrumentalness_sp,
    SUM(c.w * c.danceability_d * c.liveness_d) AS danceability__liveness_sp,
    SUM(c.w * c.danceability_d * c.valence_d) AS danceability__valence_sp,
    SUM(c.w * c.danceability_d * c.tempo_d) AS danceability__tempo_sp,
    SUM(c.w * c.energy_d * c.loudness_d) AS energy__loudness_sp,
    SUM(c.w * c.energy_d * c.speechiness_d) AS energy__speechiness_sp,
    SUM(c.w * c.energy_d * c.acousticness_d) AS energy__acousticness_sp,
    SUM(c.w * c.energy_d * c.instrumentalness_d) AS energy__instrumentalness_sp,
    SUM(c.w * c.energy_d * c.liveness_d) AS energy__liveness_sp,
    SUM(c.w * c.energy_d * c.valence_d) AS energy__valence_sp,
    SUM(c.w * c.energy_d * c.tempo_d) AS energy__tempo_sp,
    SUM(c.w * c.loudness_d * c.speechiness_d) AS loudness__speechiness_sp,
    SUM(c.w * c.loudness_d * c.acousticness_d) AS loudness__acousticness_sp,
    SUM(c.w * c.loudness_d * c.instrumentalness_d) AS loudness__instrumentalness_sp,
    SUM(c.w * c.loudness_d * c.liveness_d) AS loudness__liveness_sp,
    SUM(c.w * c.loudness_d * c.valence_d) AS loudness__valence_sp,
    SUM(c.w * c.loudness_d * c.tempo_d) AS loudness__tempo_sp,
    SUM(c.w * c.speechiness_d * c.acousticness_d) AS speechiness__acousticness_sp,
    SUM(c.w * c.speechiness_d * c.instrumentalness_d) AS speechiness__instrumentalness_sp,
    SUM(c.w * c.speechiness_d * c.liveness_d) AS speechiness__liveness_sp,
    SUM(c.w * c.speechiness_d * c.valence_d) AS speechiness__valence_sp,
    SUM(c.w * c.speechiness_d * c.tempo_d) AS speechiness__tempo_sp,
    SUM(c.w * c.acousticness_d * c.instrumentalness_d) AS acousticness__instrumentalness_sp,
    SUM(c.w * c.acousticness_d * c.liveness_d) AS acousticness__liveness_sp,
    SUM(c.w * c.acousticness_d * c.valence_d) AS acousticness__valence_sp,
    SUM(c.w * c.acousticness_d * c.tempo_d) AS acousticness__tempo_sp,
    SUM(c.w * c.instrumentalness_d * c.liveness_d) AS instrumentalness__liveness_sp,
    SUM(c.w * c.instrumentalness_d * c.valence_d) AS instrumentalness__valence_sp,
    SUM(c.w * c.instrumentalness_d * c.tempo_d) AS instrumentalness__tempo_sp,
    SUM(c.w * c.liveness_d * c.valence_d) AS liveness__valence_sp,
    SUM(c.w * c.liveness_d * c.tempo_d) AS liveness__tempo_sp,
    SUM(c.w * c.valence_d * c.tempo_d) AS valence__tempo_sp,
    SUM(c.w * c.danceability_rank_d * c.energy_rank_d) AS danceability__energy_rank_sp,
    SUM(c.w * c.danceability_rank_d * c.loudness_rank_d) AS danceability__loudness_rank_sp,
    SUM(c.w * c.danceability_rank_d * c.speechiness_rank_d) AS danceability__speechiness_rank_sp,
    SUM(c.w * c.danceability_rank_d * c.acousticness_rank_d) AS danceability__acousticness_rank_sp,
    SUM(c.w * c.danceability_rank_d * c.instrumentalness_rank_d) AS danceability__instrumentalness_rank_sp,
    SUM(c.w * c.danceability_rank_d * c.liveness_rank_d) AS danceability__liveness_rank_sp,
    SUM(c.w * c.danceability_rank_d * c.valence_rank_d) AS danceability__valence_rank_sp,
    SUM(c.w * c.danceability_rank_d * c.tempo_rank_d) AS danceability__tempo_rank_sp,
    SUM(c.w * c.energy_rank_d * c.loudness_rank_d) AS energy__loudness_rank_sp,
    SUM(c.w * c.energy_rank_d * c.speechiness_rank_d) AS energy__speechiness_rank_sp,
    SUM(c.w * c.energy_rank_d * c.acousticness_rank_d) AS energy__acousticness_rank_sp,
    SUM(c.w * c.energy_rank_d * c.instrumentalness_rank_d) AS energy__instrumentalness_rank_sp,
    SUM(c.w * c.energy_rank_d * c.liveness_rank_d) AS energy__liveness_rank_sp,
    SUM(c.w * c.energy_rank_d * c.valence_rank_d) AS energy__valence_rank_sp,
    SUM(c.w * c.energy_rank_d * c.tempo_rank_d) AS energy__tempo_rank_sp,
    SUM(c.w * c.loudness_rank_d * c.speechiness_rank_d) AS loudness__speechiness_rank_sp,
    SUM(c.w * c.loudness_rank_d * c.acousticness_rank_d) AS loudness__acousticness_rank_sp,
    SUM(c.w * c.loudness_rank_d * c.instrumentalness_rank_d) AS loudness__instrumentalness_rank_sp,
    SUM(c.w * c.loudness_rank_d * c.liveness_rank_d) AS loudness__liveness_rank_sp,
    SUM(c.w * c.loudness_rank_d * c.valence_rank_d) AS loudness__valence_rank_sp,
    SUM(c.w * c.loudness_rank_d * c.tempo_rank_d) AS loudness__tempo_rank_sp,
    SUM(c.w * c.speechiness_rank_d * c.acousticness_rank_d) AS speechiness__acousticness_rank_sp,
    SUM(c.w * c.speechiness_rank_d * c.instrumentalness_rank_d) AS speechiness__instrumentalness_rank_sp,
    SUM(c.w * c.speechiness_rank_d * c.liveness_rank_d) AS speechiness__liveness_rank_sp,
    SUM(c.w * c.speechiness_rank_d * c.valence_rank_d) AS speechiness__valence_rank_sp,
    SUM(c.w * c.speechiness_rank_d * c.tempo_rank_d) AS speechiness__tempo_rank_sp,
    SUM(c.w * c.acousticness_rank_d * c.instrumentalness_rank_d) AS acousticness__instrumentalness_rank_sp,
    SUM(c.w * c.acousticness_rank_d * c.liveness_rank_d) AS acousticness__liveness_rank_sp,
    SUM(c.w * c.acousticness_rank_d * c.valence_rank_d) AS acousticness__valence_rank_sp,
    SUM(c.w * c.acousticness_rank_d * c.tempo_rank_d) AS acousticness__tempo_rank_sp,
    SUM(c.w * c.instrumentalness_rank_d * c.liveness_rank_d) AS instrumentalness__liveness_rank_sp,
    SUM(c.w * c.instrumentalness_rank_d * c.valence_rank_d) AS instrumentalness__valence_rank_sp,
    SUM(c.w * c.instrumentalness_rank_d * c.tempo_rank_d) AS instrumentalness__tempo_rank_sp,
    SUM(c.w * c.liveness_rank_d * c.valence_rank_d) AS liveness__valence_rank_sp,
    SUM(c.w * c.liveness_rank_d * c.tempo_rank_d) AS liveness__tempo_rank_sp,
    SUM(c.w * c.valence_rank_d * c.tempo_rank_d) AS valence__tempo_rank_sp
  FROM centered AS c
  GROUP BY
    c.user_id
), moments AS (
  SELECT
    m.user_id,
    m.n_feature_plays,
    SQRT(CAST(s.danceability_ss AS DOUBLE) / m.n_feature_plays) AS danceability_sd,
    SQRT(CAST(s.danceability_rank_ss AS DOUBLE) / m.n_feature_plays) AS danceability_rank_sd,
    SQRT(CAST(s.energy_ss AS DOUBLE) / m.n_feature_plays) AS energy_sd,
    SQRT(CAST(s.energy_rank_ss AS DOUBLE) / m.n_feature_plays) AS energy_rank_sd,
    SQRT(CAST(s.loudness_ss AS DOUBLE) / m.n_feature_plays) AS loudness_sd,
    SQRT(CAST(s.loudness_rank_ss AS DOUBLE) / m.n_feature_plays) AS loudness_rank_sd,
    SQRT(CAST(s.speechiness_ss AS DOUBLE) / m.n_feature_plays) AS speechiness_sd,
    SQRT(CAST(s.speechiness_rank_ss AS DOUBLE) / m.n_feature_plays) AS speechiness_rank_sd,
    SQRT(CAST(s.acousticness_ss AS DOUBLE) / m.n_feature_plays) AS acousticness_sd,
    SQRT(CAST(s.acousticness_rank_ss AS DOUBLE) / m.n_feature_plays) AS acousticness_rank_sd,
    SQRT(CAST(s.instrumentalness_ss AS DOUBLE) / m.n_feature_plays) AS instrumentalness_sd,
    SQRT(CAST(s.instrumentalness_rank_ss AS DOUBLE) / m.n_feature_plays) AS instrumentalness_rank_sd,
    SQRT(CAST(s.liveness_ss AS DOUBLE) / m.n_feature_plays) AS liveness_sd,
    SQRT(CAST(s.liveness_rank_ss AS DOUBLE) / m.n_feature_plays) AS liveness_rank_sd,
    SQRT(CAST(s.valence_ss AS DOUBLE) / m.n_feature_plays) AS valence_sd,
    SQRT(CAST(s.valence_rank_ss AS DOUBLE) / m.n_feature_plays) AS valence_rank_sd,
    SQRT(CAST(s.tempo_ss AS DOUBLE) / m.n_feature_plays) AS tempo_sd,
    SQRT(CAST(s.tempo_rank_ss AS DOUBLE) / m.n_feature_plays) AS tempo_rank_sd,
    CAST(s.danceability__energy_sp AS DOUBLE) / SQRT(s.danceability_ss * s.energy_ss) AS pearson_danceability__energy,
    CAST(s.danceability__loudness_sp AS DOUBLE) / SQRT(s.danceability_ss * s.loudness_ss) AS pearson_danceability__loudness,
    CAST(s.danceability__speechiness_sp AS DOUBLE) / SQRT(s.danceability_ss * s.speechiness_ss) AS pearson_danceability__speechiness,
    CAST(s.danceability__acousticness_sp AS DOUBLE) / SQRT(s.danceability_ss * s.acousticness_ss) AS pearson_danceability__acousticness,
    CAST(s.danceability__instrumentalness_sp AS DOUBLE) / SQRT(s.danceability_ss * s.instrumentalness_ss) AS pearson_danceability__instrumentalness,
    CAST(s.danceability__liveness_sp AS DOUBLE) / SQRT(s.danceability_ss * s.liveness_ss) AS pearson_danceability__liveness,
    CAST(s.danceability__valence_sp AS DOUBLE) / SQRT(s.danceability_ss * s.valence_ss) AS pearson_danceability__valence,
    CAST(s.danceability__tempo_sp AS DOUBLE) / SQRT(s.danceability_ss * s.tempo_ss) AS pearson_danceability__tempo,
    CAST(s.energy__loudness_sp AS DOUBLE) / SQRT(s.energy_ss * s.loudness_ss) AS pearson_energy__loudness,
    CAST(s.energy__speechiness_sp AS DOUBLE) / SQRT(s.energy_ss * s.speechiness_ss) AS pearson_energy__speechiness,
    CAST(s.energy__acousticness_sp AS DOUBLE) / SQRT(s.energy_ss * s.acousticness_ss) AS pearson_energy__acousticness,
    CAST(s.energy__instrumentalness_sp AS DOUBLE) / SQRT(s.energy_ss * s.instrumentalness_ss) AS pearson_energy__instrumentalness,
    CAST(s.energy__liveness_sp AS DOUBLE) / SQRT(s.energy_ss * s.liveness_ss) AS pearson_energy__liveness,
    CAST(s.energy__valence_sp AS DOUBLE) / SQRT(s.energy_ss * s.valence_ss) AS pearson_energy__valence,
    CAST(s.energy__tempo_sp AS DOUBLE) / SQRT(s.energy_ss * s.tempo_ss) AS pearson_energy__tempo,
    CAST(s.loudness__speechiness_sp AS DOUBLE) / SQRT(s.loudness_ss * s.speechiness_ss) AS pearson_loudness__speechiness,
    CAST(s.loudness__acousticness_sp AS DOUBLE) / SQRT(s.loudness_ss * s.acousticness_ss) AS pearson_loudness__acousticness,
    CAST(s.loudness__instrumentalness_sp AS DOUBLE) / SQRT(s.loudness_ss * s.instrumentalness_ss) AS pearson_loudness__instrumentalness,
    CAST(s.loudness__liveness_sp AS DOUBLE) / SQRT(s.loudness_ss * s.liveness_ss) AS pearson_loudness__liveness,
    CAST(s.loudness__valence_sp AS DOUBLE) / SQRT(s.loudness_ss * s.valence_ss) AS pearson_loudness__valence,
    CAST(s.loudness__tempo_sp AS DOUBLE) / SQRT(s.loudness_ss * s.tempo_ss) AS pearson_loudness__tempo,
    CAST(s.speechiness__acousticness_sp AS DOUBLE) / SQRT(s.speechiness_ss * s.acousticness_ss) AS pearson_speechiness__acousticness,
    CAST(s.speechiness__instrumentalness_sp AS DOUBLE) / SQRT(s.speechiness_ss * s.instrumentalness_ss) AS pearson_speechiness__instrumentalness,
    CAST(s.speechiness__liveness_sp AS DOUBLE) / SQRT(s.speechiness_ss * s.liveness_ss) AS pearson_speechiness__liveness,
    CAST(s.speechiness__valence_sp AS DOUBLE) / SQRT(s.speechiness_ss * s.valence_ss) AS pearson_speechiness__valence,
    CAST(s.speechiness__tempo_sp AS DOUBLE) / SQRT(s.speechiness_ss * s.tempo_ss) AS pearson_speechiness__tempo,
    CAST(s.acousticness__instrumentalness_sp AS DOUBLE) / SQRT(s.acousticness_ss * s.instrumentalness_ss) AS pearson_acousticness__instrumentalness,
    CAST(s.acousticness__liveness_sp AS DOUBLE) / SQRT(s.acousticness_ss * s.liveness_ss) AS pearson_acousticness__liveness,
    CAST(s.acousticness__valence_sp AS DOUBLE) / SQRT(s.acousticness_ss * s.valence_ss) AS pearson_acousticness__valence,
    CAST(s.acousticness__tempo_sp AS DOUBLE) / SQRT(s.acousticness_ss * s.tempo_ss) AS pearson_acousticness__tempo,
    CAST(s.instrumentalness__liveness_sp AS DOUBLE) / SQRT(s.instrumentalness_ss * s.liveness_ss) AS pearson_instrumentalness__liveness,
    CAST(s.instrumentalness__valence_sp AS DOUBLE) / SQRT(s.instrumentalness_ss * s.valence_ss) AS pearson_instrumentalness__valence,
    CAST(s.instrumentalness__tempo_sp AS DOUBLE) / SQRT(s.instrumentalness_ss * s.tempo_ss) AS pearson_instrumentalness__tempo,
    CAST(s.liveness__valence_sp AS DOUBLE) / SQRT(s.liveness_ss * s.valence_ss) AS pearson_liveness__valence,
    CAST(s.liveness__tempo_sp AS DOUBLE) / SQRT(s.liveness_ss * s.tempo_ss) AS pearson_liveness__tempo,
    CAST(s.valence__tempo_sp AS DOUBLE) / SQRT(s.valence_ss * s.tempo_ss) AS pearson_valence__tempo,
    CAST(s.danceability__energy_rank_sp AS DOUBLE) / SQRT(s.danceability_rank_ss * s.energy_rank_ss) AS spearman_danceability__energy,
    CAST(s.danceability__loudness_rank_sp AS DOUBLE) / SQRT(s.danceability_rank_ss * s.loudness_rank_ss) AS spearman_danceability__loudness,
    CAST(s.danceability__speechiness_rank_sp AS DOUBLE) / SQRT(s.danceability_rank_ss * s.speechiness_rank_ss) AS spearman_danceability__speechiness,
    CAST(s.danceability__acousticness_rank_sp AS DOUBLE) / SQRT(s.danceability_rank_ss * s.acousticness_rank_ss) AS spearman_danceability__acousticness,
    CAST(s.danceability__instrumentalness_rank_sp AS DOUBLE) / SQRT(s.danceability_rank_ss * s.instrumentalness_rank_ss) AS spearman_danceability__instrumentalness,
    CAST(s.danceability__liveness_rank_sp AS DOUBLE) / SQRT(s.danceability_rank_ss * s.liveness_rank_ss) AS spearman_danceability__liveness,
    CAST(s.danceability__valence_rank_sp AS DOUBLE) / SQRT(s.danceability_rank_ss * s.valence_rank_ss) AS spearman_danceability__valence,
    CAST(s.danceability__tempo_rank_sp AS DOUBLE) / SQRT(s.danceability_rank_ss * s.tempo_rank_ss) AS spearman_danceability__tempo,
    CAST(s.energy__loudness_rank_sp AS DOUBLE) / SQRT(s.energy_rank_ss * s.loudness_rank_ss) AS spearman_energy__loudness,
    CAST(s.energy__speechiness_rank_sp AS DOUBLE) / SQRT(s.energy_rank_ss * s.speechiness_rank_ss) AS spearman_energy__speechiness,
    CAST(s.energy__acousticness_rank_sp AS DOUBLE) / SQRT(s.energy_rank_ss * s.acousticness_rank_ss) AS spearman_energy__acousticness,
    CAST(s.energy__instrumentalness_rank_sp AS DOUBLE) / SQRT(s.energy_rank_ss * s.instrumentalness_rank_ss) AS spearman_energy__instrumentalness,
    CAST(s.energy__liveness_rank_sp AS DOUBLE) / SQRT(s.energy_rank_ss * s.liveness_rank_ss) AS spearman_energy__liveness,
    CAST(s.energy__valence_rank_sp AS DOUBLE) / SQRT(s.energy_rank_ss * s.valence_rank_ss) AS spearman_energy__valence,
    CAST(s.energy__tempo_rank_sp AS DOUBLE) / SQRT(s.energy_rank_ss * s.tempo_rank_ss) AS spearman_energy__tempo,
    CAST(s.loudness__speechiness_rank_sp AS DOUBLE) / SQRT(s.loudness_rank_ss * s.speechiness_rank_ss) AS spearman_loudness__speechiness,
    CAST(s.loudness__acousticness_rank_sp AS DOUBLE) / SQRT(s.loudness_rank_ss * s.acousticness_rank_ss) AS spearman_loudness__acousticness,
    CAST(s.loudness__instrumentalness_rank_sp AS DOUBLE) / SQRT(s.loudness_rank_ss * s.instrumentalness_rank_ss) AS spearman_loudness__instrumentalness,
    CAST(s.loudness__liveness_rank_sp AS DOUBLE) / SQRT(s.loudness_rank_ss * s.liveness_rank_ss) AS spearman_loudness__liveness,
    CAST(s.loudness__valence_rank_sp AS DOUBLE) / SQRT(s.loudness_rank_ss * s.valence_rank_ss) AS spearman_loudness__valence,
    CAST(s.loudness__tempo_rank_sp AS DOUBLE) / SQRT(s.loudness_rank_ss * s.tempo_rank_ss) AS spearman_loudness__tempo,
    CAST(s.speechiness__acousticness_rank_sp AS DOUBLE) / SQRT(s.speechiness_rank_ss * s.acousticness_rank_ss) AS spearman_speechiness__acousticness,
    CAST(s.speechiness__instrumentalness_rank_sp AS DOUBLE) / SQRT(s.speechiness_rank_ss * s.instrumentalness_rank_ss) AS spearman_speechiness__instrumentalness,
    CAST(s.speechiness__liveness_rank_sp AS DOUBLE) / SQRT(s.speechiness_rank_ss * s.liveness_rank_ss) AS spearman_speechiness__liveness,
    CAST(s.speechiness__valence_rank_sp AS DOUBLE) / SQRT(s.speechiness_rank_ss * s.valence_rank_ss) AS spearman_speechiness__valence,
    CAST(s.speechiness__tempo_rank_sp AS DOUBLE) / SQRT(s.speechiness_rank_ss * s.tempo_rank_ss) AS spearman_speechiness__tempo,
    CAST(s.acousticness__instrumentalness_rank_sp AS DOUBLE) / SQRT(s.acousticness_rank_ss * s.instrumentalness_rank_ss) AS spearman_acousticness__instrumentalness,
    CAST(s.acousticness__liveness_rank_sp AS DOUBLE) / SQRT(s.acousticness_rank_ss * s.liveness_rank_ss) AS spearman_acousticness__liveness,
    CAST(s.acousticness__valence_rank_sp AS DOUBLE) / SQRT(s.acousticness_rank_ss * s.valence_rank_ss) AS spearman_acousticness__valence,
    CAST(s.acousticness__tempo_rank_sp AS DOUBLE) / SQRT(s.acousticness_rank_ss * s.tempo_rank_ss) AS spearman_acousticness__tempo,
    CAST(s.instrumentalness__liveness_rank_sp AS DOUBLE) / SQRT(s.instrumentalness_rank_ss * s.liveness_rank_ss) AS spearman_instrumentalness__liveness,
    CAST(s.instrumentalness__valence_rank_sp AS DOUBLE) / SQRT(s.instrumentalness_rank_ss * s.valence_rank_ss) AS spearman_instrumentalness__valence,
    CAST(s.instrumentalness__tempo_rank_sp AS DOUBLE) / SQRT(s.instrumentalness_rank_ss * s.tempo_rank_ss) AS spearman_instrumentalness__tempo,
    CAST(s.liveness__valence_rank_sp AS DOUBLE) / SQRT(s.liveness_rank_ss * s.valence_rank_ss) AS spearman_liveness__valence,
    CAST(s.liveness__tempo_rank_sp AS DOUBLE) / SQRT(s.liveness_rank_ss * s.tempo_rank_ss) AS spearman_liveness__tempo,
    CAST(s.valence__tempo_rank_sp AS DOUBLE) / SQRT(s.valence_rank_ss * s.tempo_rank_ss) AS spearman_valence__tempo
  FROM means AS m
  INNER JOIN sums AS s
    ON m.user_id = s.user_id
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
