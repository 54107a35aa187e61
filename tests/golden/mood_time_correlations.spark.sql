/* Mood by local hour of day, and how strongly mood follows the clock. */
/* Hour rows: music plays that were not skipped, their mean and sample std of */
/* valence and energy. User columns (repeated on each of the user's hour rows, */
/* prefixed corr_ / *_hour_*): Pearson r of valence and energy with */
/* sin(2*pi*h/24) and cos(2*pi*h/24) over individual plays, the */
/* circular-linear correlation combining both (0..1), and the hour at which the */
/* fitted cosine y = a + b_sin*sin + b_cos*cos peaks. NULL with fewer than 3 */
/* plays or no spread in hours or mood. */
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
    l.hour_of_day,
    l.valence,
    l.energy,
    (
      NOT l.valence IS NULL
      AND NOT l.energy IS NULL
      AND (
        COALESCE(l.feature_source, '') <> 'synthetic' OR p.allow_synthetic
      )
    ) AS has_mood
  FROM listening AS l
  CROSS JOIN params AS p
  WHERE
    COALESCE(l.is_music, FALSE)
    AND NOT COALESCE(l.is_skip, FALSE)
    AND NOT l.user_id IS NULL
    AND NOT l.hour_of_day IS NULL
), mood_plays AS (
  /* hour as a point on the clock; the mood columns only where the play has a */
  /* mood (the correlations skip the rest) */
  SELECT
    m.user_id,
    m.hour_of_day,
    m.has_mood,
    CASE WHEN m.has_mood THEN m.valence END AS valence,
    CASE WHEN m.has_mood THEN m.energy END AS energy,
    CASE WHEN m.has_mood THEN SIN(2 * PI() * m.hour_of_day / 24) END AS hour_sin,
    CASE WHEN m.has_mood THEN COS(2 * PI() * m.hour_of_day / 24) END AS hour_cos
  FROM music_plays AS m
), hour_and_user_stats AS (
  /* per user and hour, and (hour rolled up) per user: one scan */
  SELECT
    d.user_id,
    d.hour_of_day,
    GROUPING(d.hour_of_day) AS is_user_row,
    CAST(COUNT(*) AS BIGINT) AS plays,
    CAST(COUNT(*) FILTER(WHERE
      d.has_mood) AS BIGINT) AS n_feature_plays,
    AVG(d.valence) AS mean_valence,
    STDDEV_SAMP(d.valence) AS valence_std,
    AVG(d.energy) AS mean_energy,
    STDDEV_SAMP(d.energy) AS energy_std,
    STDDEV_POP(d.hour_sin) AS sd_sin,
    STDDEV_POP(d.hour_cos) AS sd_cos,
    STDDEV_POP(d.valence) AS sd_valence,
    STDDEV_POP(d.energy) AS sd_energy,
    CORR(d.hour_sin, d.hour_cos) AS r_sin_cos,
    CORR(d.valence, d.hour_sin) AS r_valence_sin,
    CORR(d.valence, d.hour_cos) AS r_valence_cos,
    CORR(d.energy, d.hour_sin) AS r_energy_sin,
    CORR(d.energy, d.hour_cos) AS r_energy_cos
  FROM mood_plays AS d
  GROUP BY
    GROUPING SETS (
      (d.user_id, d.hour_of_day),
      (
        d.user_id
      )
    )
), hourly AS (
  SELECT
    *
  FROM hour_and_user_stats
  WHERE
    is_user_row = 0
), moments AS (
  SELECT
    u.user_id,
    u.n_feature_plays AS corr_n,
    u.sd_sin,
    u.sd_cos,
    u.sd_valence,
    u.sd_energy,
    u.r_sin_cos,
    u.r_valence_sin,
    u.r_valence_cos,
    u.r_energy_sin,
    u.r_energy_cos
  FROM hour_and_user_stats AS u
  WHERE
    u.is_user_row = 1
), guarded AS (
  /* correlations only where they are defined: >= 3 plays and spread on both sides */
  SELECT
    o.user_id,
    o.corr_n,
    CASE
      WHEN o.corr_n >= 3 AND o.sd_sin > 1e-9 AND o.sd_cos > 1e-9
      THEN o.r_sin_cos
    END AS r_sin_cos,
    CASE
      WHEN o.corr_n >= 3 AND o.sd_sin > 1e-9 AND o.sd_valence > 1e-9
      THEN o.r_valence_sin
    END AS valence_hour_sin_r,
    CASE
      WHEN o.corr_n >= 3 AND o.sd_cos > 1e-9 AND o.sd_valence > 1e-9
      THEN o.r_valence_cos
    END AS valence_hour_cos_r,
    CASE
      WHEN o.corr_n >= 3 AND o.sd_sin > 1e-9 AND o.sd_energy > 1e-9
      THEN o.r_energy_sin
    END AS energy_hour_sin_r,
    CASE
      WHEN o.corr_n >= 3 AND o.sd_cos > 1e-9 AND o.sd_energy > 1e-9
      THEN o.r_energy_cos
    END AS energy_hour_cos_r,
    o.sd_sin,
    o.sd_cos
  FROM moments AS o
), circular AS (
  /* circular-linear correlation (Mardia) and the peak hour of the fitted */
  /* cosine; both need sin and cos of the hour not to be collinear */
  SELECT
    g.*,
    CASE
      WHEN ABS(g.r_sin_cos) < 0.999999
      THEN LEAST(
        1.0,
        SQRT(
          GREATEST(
            0.0,
            (
              g.valence_hour_sin_r * g.valence_hour_sin_r + g.valence_hour_cos_r * g.valence_hour_cos_r - 2 * g.valence_hour_sin_r * g.valence_hour_cos_r * g.r_sin_cos
            ) / (
              1 - g.r_sin_cos * g.r_sin_cos
            )
          )
        )
      )
    END AS valence_hour_r,
    CASE
      WHEN ABS(g.r_sin_cos) < 0.999999
      THEN LEAST(
        1.0,
        SQRT(
          GREATEST(
            0.0,
            (
              g.energy_hour_sin_r * g.energy_hour_sin_r + g.energy_hour_cos_r * g.energy_hour_cos_r - 2 * g.energy_hour_sin_r * g.energy_hour_cos_r * g.r_sin_cos
            ) / (
              1 - g.r_sin_cos * g.r_sin_cos
            )
          )
        )
      )
    END AS energy_hour_r,
    CASE
      WHEN ABS(g.r_sin_cos) < 0.999999
      THEN (
        ATAN2(
          (
            g.valence_hour_sin_r - g.valence_hour_cos_r * g.r_sin_cos
          ) / g.sd_sin,
          (
            g.valence_hour_cos_r - g.valence_hour_sin_r * g.r_sin_cos
          ) / g.sd_cos
        ) * 12 / PI() + 24
      ) % 24
    END AS valence_peak_hour,
    CASE
      WHEN ABS(g.r_sin_cos) < 0.999999
      THEN (
        ATAN2(
          (
            g.energy_hour_sin_r - g.energy_hour_cos_r * g.r_sin_cos
          ) / g.sd_sin,
          (
            g.energy_hour_cos_r - g.energy_hour_sin_r * g.r_sin_cos
          ) / g.sd_cos
        ) * 12 / PI() + 24
      ) % 24
    END AS energy_peak_hour
  FROM guarded AS g
), final AS (
  SELECT
    h.user_id,
    h.hour_of_day,
    h.plays,
    h.n_feature_plays,
    h.mean_valence,
    h.valence_std,
    h.mean_energy,
    h.energy_std,
    COALESCE(c.corr_n, CAST(0 AS BIGINT)) AS corr_n,
    c.valence_hour_sin_r,
    c.valence_hour_cos_r,
    c.valence_hour_r,
    c.valence_peak_hour,
    c.energy_hour_sin_r,
    c.energy_hour_cos_r,
    c.energy_hour_r,
    c.energy_peak_hour
  FROM hourly AS h
  LEFT JOIN circular AS c
    ON h.user_id = c.user_id
)
SELECT
  *
FROM final
