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
), listening_for_users /* DuckDB materialises a CTE that is read more than once (here: every play, */ /* spilled at scale), so the per-user statistics scan the plays through their own import */ AS (
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
), music_plays_users AS (
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
  FROM listening_for_users AS l
  CROSS JOIN params AS p
  WHERE
    COALESCE(l.is_music, FALSE)
    AND NOT COALESCE(l.is_skip, FALSE)
    AND NOT l.user_id IS NULL
    AND NOT l.part_of_day IS NULL
), user_stats AS (
  SELECT
    m.user_id,
    AVG(m.danceability) AS danceability_mean,
    STDDEV_SAMP(m.danceability) AS danceability_std,
    AVG(m.energy) AS energy_mean,
    STDDEV_SAMP(m.energy) AS energy_std,
    AVG(m.loudness) AS loudness_mean,
    STDDEV_SAMP(m.loudness) AS loudness_std,
    AVG(m.speechiness) AS speechiness_mean,
    STDDEV_SAMP(m.speechiness) AS speechiness_std,
    AVG(m.acousticness) AS acousticness_mean,
    STDDEV_SAMP(m.acousticness) AS acousticness_std,
    AVG(m.instrumentalness) AS instrumentalness_mean,
    STDDEV_SAMP(m.instrumentalness) AS instrumentalness_std,
    AVG(m.liveness) AS liveness_mean,
    STDDEV_SAMP(m.liveness) AS liveness_std,
    AVG(m.valence) AS valence_mean,
    STDDEV_SAMP(m.valence) AS valence_std,
    AVG(m.tempo) AS tempo_mean,
    STDDEV_SAMP(m.tempo) AS tempo_std
  FROM music_plays_users AS m
  WHERE
    m.has_features
  GROUP BY
    m.user_id
), part_stats AS (
  SELECT
    m.user_id,
    m.part_of_day,
    CAST(COUNT(*) AS BIGINT) AS plays,
    CAST(COUNT(*) FILTER(WHERE
      m.has_features) AS BIGINT) AS n_feature_plays,
    AVG(CASE WHEN m.has_features THEN m.danceability END) AS mean_danceability,
    AVG(CASE WHEN m.has_features THEN m.energy END) AS mean_energy,
    AVG(CASE WHEN m.has_features THEN m.loudness END) AS mean_loudness,
    AVG(CASE WHEN m.has_features THEN m.speechiness END) AS mean_speechiness,
    AVG(CASE WHEN m.has_features THEN m.acousticness END) AS mean_acousticness,
    AVG(CASE WHEN m.has_features THEN m.instrumentalness END) AS mean_instrumentalness,
    AVG(CASE WHEN m.has_features THEN m.liveness END) AS mean_liveness,
    AVG(CASE WHEN m.has_features THEN m.valence END) AS mean_valence,
    AVG(CASE WHEN m.has_features THEN m.tempo END) AS mean_tempo
  FROM music_plays AS m
  GROUP BY
    m.user_id,
    m.part_of_day
), part_z AS (
  SELECT
    s.*,
    CASE
      WHEN u.danceability_std > 1e-9
      THEN (
        s.mean_danceability - u.danceability_mean
      ) / u.danceability_std
    END AS danceability_z,
    CASE
      WHEN u.energy_std > 1e-9
      THEN (
        s.mean_energy - u.energy_mean
      ) / u.energy_std
    END AS energy_z,
    CASE
      WHEN u.loudness_std > 1e-9
      THEN (
        s.mean_loudness - u.loudness_mean
      ) / u.loudness_std
    END AS loudness_z,
    CASE
      WHEN u.speechiness_std > 1e-9
      THEN (
        s.mean_speechiness - u.speechiness_mean
      ) / u.speechiness_std
    END AS speechiness_z,
    CASE
      WHEN u.acousticness_std > 1e-9
      THEN (
        s.mean_acousticness - u.acousticness_mean
      ) / u.acousticness_std
    END AS acousticness_z,
    CASE
      WHEN u.instrumentalness_std > 1e-9
      THEN (
        s.mean_instrumentalness - u.instrumentalness_mean
      ) / u.instrumentalness_std
    END AS instrumentalness_z,
    CASE
      WHEN u.liveness_std > 1e-9
      THEN (
        s.mean_liveness - u.liveness_mean
      ) / u.liveness_std
    END AS liveness_z,
    CASE
      WHEN u.valence_std > 1e-9
      THEN (
        s.mean_valence - u.valence_mean
      ) / u.valence_std
    END AS valence_z,
    CASE
      WHEN u.tempo_std > 1e-9
      THEN (
        s.mean_tempo - u.tempo_mean
      ) / u.tempo_std
    END AS tempo_z
  FROM part_stats AS s
  LEFT JOIN user_stats AS u
    ON s.user_id = u.user_id
), features AS (
  SELECT
    *
  FROM VALUES
    ('danceability'),
    ('energy'),
    ('loudness'),
    ('speechiness'),
    ('acousticness'),
    ('instrumentalness'),
    ('liveness'),
    ('valence'),
    ('tempo') AS features(feature)
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
      ORDER BY ROUND(ABS(l.z_score), 9) DESC, l.feature NULLS LAST
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
