/* What sets each part of the day apart, per user. For every audio feature the */
/* standardized difference z = (mean in this part of day - the user's overall */
/* mean) / the user's overall sample std, over the user's music plays that were */
/* not skipped and have features. The top driver is the feature with the */
/* largest |z| (|z| rounded to 9 decimals; ties: feature name), second driver */
/* the next; NULL when no feature differs (|z| = 0) or the user's std is 0. */
WITH listening AS (
  SELECT
    *
  FROM listening_with_features
), params AS (
  SELECT
    *
  FROM run_params
), music_plays AS (
  SELECT
    l.user_id,
    l.part_of_day,
    (
      NOT l.valence IS NULL
      AND (
        COALESCE(l.feature_source, '') <> 'synthetic' OR p.allow_synthetic
      )
    ) AS has_features,
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
    AND NOT l.part_of_day IS NULL
), part_and_user_stats AS (
  /* per user and part of day, and (part of day rolled up) per user: one scan */
  SELECT
    m.user_id,
    m.part_of_day,
    GROUPING(m.part_of_day) AS is_user_row,
    CAST(COUNT(*) AS BIGINT) AS plays,
    CAST(COUNT(*) FILTER(WHERE
      m.has_features) AS BIGINT) AS n_feature_plays,
    AVG(CASE WHEN m.has_features THEN m.danceability END) AS mean_danceability,
    STDDEV_SAMP(CASE WHEN m.has_features THEN m.danceability END) AS std_danceability,
    AVG(CASE WHEN m.has_features THEN m.energy END) AS mean_energy,
    STDDEV_SAMP(CASE WHEN m.has_features THEN m.energy END) AS std_energy,
    AVG(CASE WHEN m.has_features THEN m.loudness END) AS mean_loudness,
    STDDEV_SAMP(CASE WHEN m.has_features THEN m.loudness END) AS std_loudness,
    AVG(CASE WHEN m.has_features THEN m.speechiness END) AS mean_speechiness,
    STDDEV_SAMP(CASE WHEN m.has_features THEN m.speechiness END) AS std_speechiness,
    AVG(CASE WHEN m.has_features THEN m.acousticness END) AS mean_acousticness,
    STDDEV_SAMP(CASE WHEN m.has_features THEN m.acousticness END) AS std_acousticness,
    AVG(CASE WHEN m.has_features THEN m.instrumentalness END) AS mean_instrumentalness,
    STDDEV_SAMP(CASE WHEN m.has_features THEN m.instrumentalness END) AS std_instrumentalness,
    AVG(CASE WHEN m.has_features THEN m.liveness END) AS mean_liveness,
    STDDEV_SAMP(CASE WHEN m.has_features THEN m.liveness END) AS std_liveness,
    AVG(CASE WHEN m.has_features THEN m.valence END) AS mean_valence,
    STDDEV_SAMP(CASE WHEN m.has_features THEN m.valence END) AS std_valence,
    AVG(CASE WHEN m.has_features THEN m.tempo END) AS mean_tempo,
    STDDEV_SAMP(CASE WHEN m.has_features THEN m.tempo END) AS std_tempo
  FROM music_plays AS m
  GROUP BY
    GROUPING SETS (
      (m.user_id, m.part_of_day),
      (
        m.user_id
      )
    )
), user_stats AS (
  SELECT
    u.user_id,
    u.mean_danceability AS danceability_mean,
    u.std_danceability AS danceability_std,
    u.mean_energy AS energy_mean,
    u.std_energy AS energy_std,
    u.mean_loudness AS loudness_mean,
    u.std_loudness AS loudness_std,
    u.mean_speechiness AS speechiness_mean,
    u.std_speechiness AS speechiness_std,
    u.mean_acousticness AS acousticness_mean,
    u.std_acousticness AS acousticness_std,
    u.mean_instrumentalness AS instrumentalness_mean,
    u.std_instrumentalness AS instrumentalness_std,
    u.mean_liveness AS liveness_mean,
    u.std_liveness AS liveness_std,
    u.mean_valence AS valence_mean,
    u.std_valence AS valence_std,
    u.mean_tempo AS tempo_mean,
    u.std_tempo AS tempo_std
  FROM part_and_user_stats AS u
  WHERE
    u.is_user_row = 1
), part_stats AS (
  SELECT
    s.user_id,
    s.part_of_day,
    s.plays,
    s.n_feature_plays,
    s.mean_danceability,
    s.mean_energy,
    s.mean_loudness,
    s.mean_speechiness,
    s.mean_acousticness,
    s.mean_instrumentalness,
    s.mean_liveness,
    s.mean_valence,
    s.mean_tempo
  FROM part_and_user_stats AS s
  WHERE
    s.is_user_row = 0
), part_z AS (
  SELECT
    s.*,
    CASE
      WHEN u.danceability_std > 1e-9
      THEN CAST((
        s.mean_danceability - u.danceability_mean
      ) AS DOUBLE) / u.danceability_std
    END AS danceability_z,
    CASE
      WHEN u.energy_std > 1e-9
      THEN CAST((
        s.mean_energy - u.energy_mean
      ) AS DOUBLE) / u.energy_std
    END AS energy_z,
    CASE
      WHEN u.loudness_std > 1e-9
      THEN CAST((
        s.mean_loudness - u.loudness_mean
      ) AS DOUBLE) / u.loudness_std
    END AS loudness_z,
    CASE
      WHEN u.speechiness_std > 1e-9
      THEN CAST((
        s.mean_speechiness - u.speechiness_mean
      ) AS DOUBLE) / u.speechiness_std
    END AS speechiness_z,
    CASE
      WHEN u.acousticness_std > 1e-9
      THEN CAST((
        s.mean_acousticness - u.acousticness_mean
      ) AS DOUBLE) / u.acousticness_std
    END AS acousticness_z,
    CASE
      WHEN u.instrumentalness_std > 1e-9
      THEN CAST((
        s.mean_instrumentalness - u.instrumentalness_mean
      ) AS DOUBLE) / u.instrumentalness_std
    END AS instrumentalness_z,
    CASE
      WHEN u.liveness_std > 1e-9
      THEN CAST((
        s.mean_liveness - u.liveness_mean
      ) AS DOUBLE) / u.liveness_std
    END AS liveness_z,
    CASE
      WHEN u.valence_std > 1e-9
      THEN CAST((
        s.mean_valence - u.valence_mean
      ) AS DOUBLE) / u.valence_std
    END AS valence_z,
    CASE
      WHEN u.tempo_std > 1e-9
      THEN CAST((
        s.mean_tempo - u.tempo_mean
      ) AS DOUBLE) / u.tempo_std
    END AS tempo_z
  FROM part_stats AS s
  LEFT JOIN user_stats AS u
    ON s.user_id = u.user_id
), features AS (
  SELECT
    *
  FROM (VALUES
    ('danceability'),
    ('energy'),
    ('loudness'),
    ('speechiness'),
    ('acousticness'),
    ('instrumentalness'),
    ('liveness'),
    ('valence'),
    ('tempo')) AS features(feature)
), long_z AS (
  SELECT
    z.user_id,
    z.part_of_day,
    x.feature,
    CASE x.feature
      WHEN 'danceability'
      THEN z.danceability_z
      WHEN 'energy'
      THEN z.energy_z
      WHEN 'loudness'
      THEN z.loudness_z
      WHEN 'speechiness'
      THEN z.speechiness_z
      WHEN 'acousticness'
      THEN z.acousticness_z
      WHEN 'instrumentalness'
      THEN z.instrumentalness_z
      WHEN 'liveness'
      THEN z.liveness_z
      WHEN 'valence'
      THEN z.valence_z
      WHEN 'tempo'
      THEN z.tempo_z
    END AS z_score
  FROM part_z AS z
  CROSS JOIN features AS x
), ranked AS (
  SELECT
    l.*,
    ROW_NUMBER() OVER (
      PARTITION BY l.user_id, l.part_of_day
      ORDER BY ROUND(ABS(l.z_score), 9) DESC, l.feature
    ) AS driver_rank
  FROM long_z AS l
  WHERE
    ROUND(ABS(l.z_score), 9) > 0
), drivers AS (
  SELECT
    r.user_id,
    r.part_of_day,
    MAX(CASE WHEN r.driver_rank = 1 THEN r.feature END) AS top_driver,
    MAX(CASE WHEN r.driver_rank = 1 THEN r.z_score END) AS top_driver_z,
    MAX(CASE WHEN r.driver_rank = 2 THEN r.feature END) AS second_driver,
    MAX(CASE WHEN r.driver_rank = 2 THEN r.z_score END) AS second_driver_z
  FROM ranked AS r
  WHERE
    r.driver_rank <= 2
  GROUP BY
    r.user_id,
    r.part_of_day
), final AS (
  SELECT
    z.user_id,
    z.part_of_day,
    z.plays,
    z.n_feature_plays,
    d.top_driver,
    d.top_driver_z,
    CASE WHEN d.top_driver_z > 0 THEN 'higher' WHEN d.top_driver_z < 0 THEN 'lower' END AS top_driver_direction,
    d.second_driver,
    d.second_driver_z,
    z.mean_danceability,
    z.mean_energy,
    z.mean_loudness,
    z.mean_speechiness,
    z.mean_acousticness,
    z.mean_instrumentalness,
    z.mean_liveness,
    z.mean_valence,
    z.mean_tempo,
    z.danceability_z,
    z.energy_z,
    z.loudness_z,
    z.speechiness_z,
    z.acousticness_z,
    z.instrumentalness_z,
    z.liveness_z,
    z.valence_z,
    z.tempo_z
  FROM part_z AS z
  LEFT JOIN drivers AS d
    ON z.user_id = d.user_id AND z.part_of_day = d.part_of_day
)
SELECT
  *
FROM final
