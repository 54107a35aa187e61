/* What sets each part of the day apart, per user. For every audio feature the */
/* standardized difference z = (mean in this part of day - the user's overall */
/* mean) / the user's overall sample std, over the user's music plays that were */
/* not skipped and have features. The top driver is the feature with the */
/* largest |z| (ties: feature name), second driver the next; NULL when no */
/* feature differs (|z| = 0) or the user's std is 0. */
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
), long_values AS (
  SELECT
    f.user_id,
    f.part_of_day,
    x.feature,
    CASE x.feature
      WHEN 'danceability'
      THEN f.danceability
      WHEN 'energy'
      THEN f.energy
      WHEN 'loudness'
      THEN f.loudness
      WHEN 'speechiness'
      THEN f.speechiness
      WHEN 'acousticness'
      THEN f.acousticness
      WHEN 'instrumentalness'
      THEN f.instrumentalness
      WHEN 'liveness'
      THEN f.liveness
      WHEN 'valence'
      THEN f.valence
      WHEN 'tempo'
      THEN f.tempo
    END AS value
  FROM music_plays AS f
  CROSS JOIN features AS x
  WHERE
    f.has_features
), user_stats AS (
  SELECT
    v.user_id,
    v.feature,
    AVG(v.value) AS user_mean,
    STDDEV_SAMP(v.value) AS user_std
  FROM long_values AS v
  GROUP BY
    v.user_id,
    v.feature
), part_stats AS (
  SELECT
    v.user_id,
    v.part_of_day,
    v.feature,
    AVG(v.value) AS pod_mean
  FROM long_values AS v
  GROUP BY
    v.user_id,
    v.part_of_day,
    v.feature
), scored AS (
  SELECT
    s.user_id,
    s.part_of_day,
    s.feature,
    s.pod_mean,
    CASE
      WHEN u.user_std > 1e-9
      THEN CAST((
        s.pod_mean - u.user_mean
      ) AS DOUBLE) / u.user_std
    END AS z_score
  FROM part_stats AS s
  INNER JOIN user_stats AS u
    ON s.user_id = u.user_id AND s.feature = u.feature
), ranked AS (
  SELECT
    s.*,
    ROW_NUMBER() OVER (
      PARTITION BY s.user_id, s.part_of_day
      ORDER BY ROUND(ABS(s.z_score), 9) DESC, s.feature
    ) AS driver_rank
  FROM scored AS s
  WHERE
    ABS(s.z_score) > 1e-9
), part_plays AS (
  SELECT
    m.user_id,
    m.part_of_day,
    CAST(COUNT(*) AS BIGINT) AS plays,
    CAST(COUNT(*) FILTER(WHERE
      m.has_features) AS BIGINT) AS n_feature_plays
  FROM music_plays AS m
  GROUP BY
    m.user_id,
    m.part_of_day
), part_means AS (
  SELECT
    s.user_id,
    s.part_of_day,
    MAX(CASE WHEN s.feature = 'danceability' THEN s.pod_mean END) AS mean_danceability,
    MAX(CASE WHEN s.feature = 'energy' THEN s.pod_mean END) AS mean_energy,
    MAX(CASE WHEN s.feature = 'loudness' THEN s.pod_mean END) AS mean_loudness,
    MAX(CASE WHEN s.feature = 'speechiness' THEN s.pod_mean END) AS mean_speechiness,
    MAX(CASE WHEN s.feature = 'acousticness' THEN s.pod_mean END) AS mean_acousticness,
    MAX(CASE WHEN s.feature = 'instrumentalness' THEN s.pod_mean END) AS mean_instrumentalness,
    MAX(CASE WHEN s.feature = 'liveness' THEN s.pod_mean END) AS mean_liveness,
    MAX(CASE WHEN s.feature = 'valence' THEN s.pod_mean END) AS mean_valence,
    MAX(CASE WHEN s.feature = 'tempo' THEN s.pod_mean END) AS mean_tempo,
    MAX(CASE WHEN s.feature = 'danceability' THEN s.z_score END) AS danceability_z,
    MAX(CASE WHEN s.feature = 'energy' THEN s.z_score END) AS energy_z,
    MAX(CASE WHEN s.feature = 'loudness' THEN s.z_score END) AS loudness_z,
    MAX(CASE WHEN s.feature = 'speechiness' THEN s.z_score END) AS speechiness_z,
    MAX(CASE WHEN s.feature = 'acousticness' THEN s.z_score END) AS acousticness_z,
    MAX(CASE WHEN s.feature = 'instrumentalness' THEN s.z_score END) AS instrumentalness_z,
    MAX(CASE WHEN s.feature = 'liveness' THEN s.z_score END) AS liveness_z,
    MAX(CASE WHEN s.feature = 'valence' THEN s.z_score END) AS valence_z,
    MAX(CASE WHEN s.feature = 'tempo' THEN s.z_score END) AS tempo_z
  FROM scored AS s
  GROUP BY
    s.user_id,
    s.part_of_day
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
    p.user_id,
    p.part_of_day,
    p.plays,
    p.n_feature_plays,
    d.top_driver,
    d.top_driver_z,
    CASE WHEN d.top_driver_z > 0 THEN 'higher' WHEN d.top_driver_z < 0 THEN 'lower' END AS top_driver_direction,
    d.second_driver,
    d.second_driver_z,
    m.mean_danceability,
    m.mean_energy,
    m.mean_loudness,
    m.mean_speechiness,
    m.mean_acousticness,
    m.mean_instrumentalness,
    m.mean_liveness,
    m.mean_valence,
    m.mean_tempo,
    m.danceability_z,
    m.energy_z,
    m.loudness_z,
    m.speechiness_z,
    m.acousticness_z,
    m.instrumentalness_z,
    m.liveness_z,
    m.valence_z,
    m.tempo_z
  FROM part_plays AS p
  LEFT JOIN part_means AS m
    ON p.user_id = m.user_id AND p.part_of_day = m.part_of_day
  LEFT JOIN drivers AS d
    ON p.user_id = d.user_id AND p.part_of_day = d.part_of_day
)
SELECT
  *
FROM final
