/* Distribution of each audio feature over a user's plays (skips and untrusted */
/* features excluded): min, quartiles, max, mean, sample std. */
/* Percentiles interpolate linearly between the two nearest ranks (the */
/* definition of DuckDB quantile_cont and Spark percentile). They are computed */
/* from play counts per user and track (audio features repeat per track), so */
/* every engine gives the same numbers and memory stays bounded: the value at */
/* rank r is the smallest value whose running count of plays reaches r (ties in */
/* any order give the same value). Only the plays in the value buckets that */
/* hold one of the six ranks are sorted: counts per bucket locate them, and a */
/* bucket's running count starts at the plays of the buckets below it. A user */
/* with no usable features gets a row per feature with n_feature_plays = 0 and */
/* NULL stats. */
WITH user_tracks AS (
  SELECT
    *
  FROM user_track_features
), user_tracks_for_users /* DuckDB materialises a CTE that is read more than once, so the user list */ /* reads the tracks through its own import */ AS (
  SELECT
    *
  FROM user_track_features
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
), track_plays /* features belong to the track: the usable plays per user and track (not */ /* skipped, with trusted features) come from user_track_features */ AS (
  SELECT
    t.user_id,
    t.track_key,
    t.n_plays - t.n_skips AS plays,
    t.danceability,
    t.energy,
    t.valence,
    t.acousticness,
    t.instrumentalness,
    t.speechiness,
    t.liveness,
    t.tempo,
    t.loudness
  FROM user_tracks AS t
  CROSS JOIN params AS p
  WHERE
    NOT t.valence IS NULL
    AND t.n_plays > t.n_skips
    AND (
      COALESCE(t.feature_source, '') <> 'synthetic' OR p.allow_synthetic
    )
), music_users AS (
  /* every user with music plays, with usable features or not */
  SELECT DISTINCT
    t.user_id
  FROM user_tracks_for_users AS t
), user_stats AS (
  /* per user and feature (wide): plays with the feature, mean, min, max */
  SELECT
    tp.user_id,
    SUM(CASE WHEN NOT tp.danceability IS NULL THEN tp.plays END) AS danceability_n,
    SUM(tp.plays * tp.danceability) / SUM(CASE WHEN NOT tp.danceability IS NULL THEN tp.plays END) AS danceability_mean,
    MIN(tp.danceability) AS danceability_min,
    MAX(tp.danceability) AS danceability_max,
    SUM(CASE WHEN NOT tp.energy IS NULL THEN tp.plays END) AS energy_n,
    SUM(tp.plays * tp.energy) / SUM(CASE WHEN NOT tp.energy IS NULL THEN tp.plays END) AS energy_mean,
    MIN(tp.energy) AS energy_min,
    MAX(tp.energy) AS energy_max,
    SUM(CASE WHEN NOT tp.valence IS NULL THEN tp.plays END) AS valence_n,
    SUM(tp.plays * tp.valence) / SUM(CASE WHEN NOT tp.valence IS NULL THEN tp.plays END) AS valence_mean,
    MIN(tp.valence) AS valence_min,
    MAX(tp.valence) AS valence_max,
    SUM(CASE WHEN NOT tp.acousticness IS NULL THEN tp.plays END) AS acousticness_n,
    SUM(tp.plays * tp.acousticness) / SUM(CASE WHEN NOT tp.acousticness IS NULL THEN tp.plays END) AS acousticness_mean,
    MIN(tp.acousticness) AS acousticness_min,
    MAX(tp.acousticness) AS acousticness_max,
    SUM(CASE WHEN NOT tp.instrumentalness IS NULL THEN tp.plays END) AS instrumentalness_n,
    SUM(tp.plays * tp.instrumentalness) / SUM(CASE WHEN NOT tp.instrumentalness IS NULL THEN tp.plays END) AS instrumentalness_mean,
    MIN(tp.instrumentalness) AS instrumentalness_min,
    MAX(tp.instrumentalness) AS instrumentalness_max,
    SUM(CASE WHEN NOT tp.speechiness IS NULL THEN tp.plays END) AS speechiness_n,
    SUM(tp.plays * tp.speechiness) / SUM(CASE WHEN NOT tp.speechiness IS NULL THEN tp.plays END) AS speechiness_mean,
    MIN(tp.speechiness) AS speechiness_min,
    MAX(tp.speechiness) AS speechiness_max,
    SUM(CASE WHEN NOT tp.liveness IS NULL THEN tp.plays END) AS liveness_n,
    SUM(tp.plays * tp.liveness) / SUM(CASE WHEN NOT tp.liveness IS NULL THEN tp.plays END) AS liveness_mean,
    MIN(tp.liveness) AS liveness_min,
    MAX(tp.liveness) AS liveness_max,
    SUM(CASE WHEN NOT tp.tempo IS NULL THEN tp.plays END) AS tempo_n,
    SUM(tp.plays * tp.tempo) / SUM(CASE WHEN NOT tp.tempo IS NULL THEN tp.plays END) AS tempo_mean,
    MIN(tp.tempo) AS tempo_min,
    MAX(tp.tempo) AS tempo_max,
    SUM(CASE WHEN NOT tp.loudness IS NULL THEN tp.plays END) AS loudness_n,
    SUM(tp.plays * tp.loudness) / SUM(CASE WHEN NOT tp.loudness IS NULL THEN tp.plays END) AS loudness_mean,
    MIN(tp.loudness) AS loudness_min,
    MAX(tp.loudness) AS loudness_max
  FROM track_plays AS tp
  GROUP BY
    tp.user_id
), user_deviations AS (
  /* per user and feature (wide): sum of squared deviations from the mean */
  SELECT
    tp.user_id,
    SUM(
      tp.plays * (
        tp.danceability - m.danceability_mean
      ) * (
        tp.danceability - m.danceability_mean
      )
    ) AS danceability_ss,
    SUM(tp.plays * (
      tp.energy - m.energy_mean
    ) * (
      tp.energy - m.energy_mean
    )) AS energy_ss,
    SUM(tp.plays * (
      tp.valence - m.valence_mean
    ) * (
      tp.valence - m.valence_mean
    )) AS valence_ss,
    SUM(
      tp.plays * (
        tp.acousticness - m.acousticness_mean
      ) * (
        tp.acousticness - m.acousticness_mean
      )
    ) AS acousticness_ss,
    SUM(
      tp.plays * (
        tp.instrumentalness - m.instrumentalness_mean
      ) * (
        tp.instrumentalness - m.instrumentalness_mean
      )
    ) AS instrumentalness_ss,
    SUM(
      tp.plays * (
        tp.speechiness - m.speechiness_mean
      ) * (
        tp.speechiness - m.speechiness_mean
      )
    ) AS speechiness_ss,
    SUM(
      tp.plays * (
        tp.liveness - m.liveness_mean
      ) * (
        tp.liveness - m.liveness_mean
      )
    ) AS liveness_ss,
    SUM(tp.plays * (
      tp.tempo - m.tempo_mean
    ) * (
      tp.tempo - m.tempo_mean
    )) AS tempo_ss,
    SUM(
      tp.plays * (
        tp.loudness - m.loudness_mean
      ) * (
        tp.loudness - m.loudness_mean
      )
    ) AS loudness_ss
  FROM track_plays AS tp
  INNER JOIN user_stats AS m
    ON tp.user_id = m.user_id
  GROUP BY
    tp.user_id
), feature_stats AS (
  /* one row per user and feature the user has */
  SELECT
    v.*
  FROM (
    SELECT
      m.user_id,
      fe.feature_no,
      CAST(CASE fe.feature_no
        WHEN 1
        THEN m.danceability_n
        WHEN 2
        THEN m.energy_n
        WHEN 3
        THEN m.valence_n
        WHEN 4
        THEN m.acousticness_n
        WHEN 5
        THEN m.instrumentalness_n
        WHEN 6
        THEN m.speechiness_n
        WHEN 7
        THEN m.liveness_n
        WHEN 8
        THEN m.tempo_n
        WHEN 9
        THEN m.loudness_n
      END AS BIGINT) AS n,
      CASE fe.feature_no
        WHEN 1
        THEN m.danceability_mean
        WHEN 2
        THEN m.energy_mean
        WHEN 3
        THEN m.valence_mean
        WHEN 4
        THEN m.acousticness_mean
        WHEN 5
        THEN m.instrumentalness_mean
        WHEN 6
        THEN m.speechiness_mean
        WHEN 7
        THEN m.liveness_mean
        WHEN 8
        THEN m.tempo_mean
        WHEN 9
        THEN m.loudness_mean
      END AS mean,
      CASE fe.feature_no
        WHEN 1
        THEN m.danceability_min
        WHEN 2
        THEN m.energy_min
        WHEN 3
        THEN m.valence_min
        WHEN 4
        THEN m.acousticness_min
        WHEN 5
        THEN m.instrumentalness_min
        WHEN 6
        THEN m.speechiness_min
        WHEN 7
        THEN m.liveness_min
        WHEN 8
        THEN m.tempo_min
        WHEN 9
        THEN m.loudness_min
      END AS min,
      CASE fe.feature_no
        WHEN 1
        THEN m.danceability_max
        WHEN 2
        THEN m.energy_max
        WHEN 3
        THEN m.valence_max
        WHEN 4
        THEN m.acousticness_max
        WHEN 5
        THEN m.instrumentalness_max
        WHEN 6
        THEN m.speechiness_max
        WHEN 7
        THEN m.liveness_max
        WHEN 8
        THEN m.tempo_max
        WHEN 9
        THEN m.loudness_max
      END AS max,
      CASE fe.feature_no
        WHEN 1
        THEN d.danceability_ss
        WHEN 2
        THEN d.energy_ss
        WHEN 3
        THEN d.valence_ss
        WHEN 4
        THEN d.acousticness_ss
        WHEN 5
        THEN d.instrumentalness_ss
        WHEN 6
        THEN d.speechiness_ss
        WHEN 7
        THEN d.liveness_ss
        WHEN 8
        THEN d.tempo_ss
        WHEN 9
        THEN d.loudness_ss
      END AS ss
    FROM user_stats AS m
    INNER JOIN user_deviations AS d
      ON m.user_id = d.user_id
    CROSS JOIN features AS fe
  ) AS v
  WHERE
    NOT v.n IS NULL
), feature_totals AS (
  /* positions of the quartiles and the six ranks they interpolate between */
  /* (positions are exact in double: quarters of integers) */
  SELECT
    t.*,
    CAST(FLOOR(t.pos_25) AS BIGINT) AS low_rank_25,
    CAST(CEIL(t.pos_25) AS BIGINT) AS high_rank_25,
    CAST(FLOOR(t.pos_50) AS BIGINT) AS low_rank_50,
    CAST(CEIL(t.pos_50) AS BIGINT) AS high_rank_50,
    CAST(FLOOR(t.pos_75) AS BIGINT) AS low_rank_75,
    CAST(CEIL(t.pos_75) AS BIGINT) AS high_rank_75
  FROM (
    SELECT
      c.*,
      1 + CAST(c.n - 1 AS DOUBLE) / 4 AS pos_25,
      1 + CAST(c.n - 1 AS DOUBLE) / 2 AS pos_50,
      1 + CAST(3 * (
        c.n - 1
      ) AS DOUBLE) / 4 AS pos_75
    FROM feature_stats AS c
  ) AS t
), long_values AS (
  /* one row per user, feature and track with the feature, in a value bucket: */
  /* 1/128 for the features in [0, 1], 2 BPM for tempo, 0.5 dB for loudness. */
  /* A bucket number never decreases as the value grows (any value, in range */
  /* or not; kept a double, so no value is too large for it), so a rank can */
  /* be located bucket by bucket */
  SELECT
    v.*,
    FLOOR(
      CASE v.feature_no
        WHEN 8
        THEN v.value / 2
        WHEN 9
        THEN v.value * 2
        ELSE v.value * 128
      END
    ) AS bucket
  FROM (
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
  ) AS v
  WHERE
    NOT v.value IS NULL
), bucket_ranks AS (
  /* the ranks of the plays in each bucket: (plays_before, plays_before + plays] */
  SELECT
    c.user_id,
    c.feature_no,
    c.bucket,
    c.plays,
    SUM(c.plays) OVER (
      PARTITION BY c.user_id, c.feature_no
      ORDER BY c.bucket NULLS LAST
      rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
    ) - c.plays AS plays_before
  FROM (
    SELECT
      v.user_id,
      v.feature_no,
      v.bucket,
      SUM(v.plays) AS plays
    FROM long_values AS v
    GROUP BY
      v.user_id,
      v.feature_no,
      v.bucket
  ) AS c
), target_buckets AS (
  /* the buckets holding one of the six ranks */
  SELECT
    r.user_id,
    r.feature_no,
    r.bucket,
    r.plays_before
  FROM bucket_ranks AS r
  INNER JOIN feature_totals AS t
    ON r.user_id = t.user_id AND r.feature_no = t.feature_no
  WHERE
    (
      t.low_rank_25 > r.plays_before AND t.low_rank_25 <= r.plays_before + r.plays
    )
    OR (
      t.high_rank_25 > r.plays_before AND t.high_rank_25 <= r.plays_before + r.plays
    )
    OR (
      t.low_rank_50 > r.plays_before AND t.low_rank_50 <= r.plays_before + r.plays
    )
    OR (
      t.high_rank_50 > r.plays_before AND t.high_rank_50 <= r.plays_before + r.plays
    )
    OR (
      t.low_rank_75 > r.plays_before AND t.low_rank_75 <= r.plays_before + r.plays
    )
    OR (
      t.high_rank_75 > r.plays_before AND t.high_rank_75 <= r.plays_before + r.plays
    )
), running AS (
  /* plays at or below each value of those buckets, in value order */
  SELECT
    v.user_id,
    v.feature_no,
    v.value,
    t.plays_before + SUM(v.plays) OVER (
      PARTITION BY v.user_id, v.feature_no, v.bucket
      ORDER BY v.value NULLS LAST
      rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
    ) AS running_plays
  FROM long_values AS v
  INNER JOIN target_buckets AS t
    ON v.user_id = t.user_id AND v.feature_no = t.feature_no AND v.bucket = t.bucket
), rank_values AS (
  /* the value at rank r is the smallest value whose running count reaches r */
  /* (ties in any order give the same value); it lies in r's bucket */
  SELECT
    r.user_id,
    r.feature_no,
    MIN(CASE WHEN r.running_plays >= t.low_rank_25 THEN r.value END) AS low_25,
    MIN(CASE WHEN r.running_plays >= t.high_rank_25 THEN r.value END) AS high_25,
    MIN(CASE WHEN r.running_plays >= t.low_rank_50 THEN r.value END) AS low_50,
    MIN(CASE WHEN r.running_plays >= t.high_rank_50 THEN r.value END) AS high_50,
    MIN(CASE WHEN r.running_plays >= t.low_rank_75 THEN r.value END) AS low_75,
    MIN(CASE WHEN r.running_plays >= t.high_rank_75 THEN r.value END) AS high_75
  FROM running AS r
  INNER JOIN feature_totals AS t
    ON r.user_id = t.user_id AND r.feature_no = t.feature_no
  GROUP BY
    r.user_id,
    r.feature_no
), aggregated AS (
  SELECT
    t.user_id,
    t.feature_no,
    t.n AS n_feature_plays,
    t.min AS min_value,
    t.max AS max_value,
    t.mean,
    SQRT(t.ss / NULLIF(t.n - 1, 0)) AS std,
    t.pos_25 - FLOOR(t.pos_25) AS frac_25,
    t.pos_50 - FLOOR(t.pos_50) AS frac_50,
    t.pos_75 - FLOOR(t.pos_75) AS frac_75,
    q.low_25,
    q.high_25,
    q.low_50,
    q.high_50,
    q.low_75,
    q.high_75
  FROM feature_totals AS t
  INNER JOIN rank_values AS q
    ON t.user_id = q.user_id AND t.feature_no = q.feature_no
), final AS (
  SELECT
    u.user_id,
    fe.feature,
    COALESCE(a.n_feature_plays, CAST(0 AS BIGINT)) AS n_feature_plays,
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
  FROM music_users AS u
  CROSS JOIN features AS fe
  LEFT JOIN aggregated AS a
    ON u.user_id = a.user_id AND fe.feature_no = a.feature_no
)
SELECT
  *
FROM final
