/* What each local hour suits, per user, from the observed mood of the music */
/* the user plays then (music plays that were not skipped, with features). */
/* mood_state: the shared quadrant rule applied to the hour's mean valence and */
/* energy. suggested_activity: the first rule that matches, stated in */
/* activity_rule (means rounded to 6 decimals before comparing): */
/*   fewer than 3 plays with features  -> 'not enough data' */
/*   mean energy >= 0.7                -> 'workout' */
/*   mean valence >= 0.6, energy >= 0.5 -> 'social' */
/*   mean energy < 0.4                 -> 'wind-down' */
/*   mean valence < 0.4                -> 'mood-lift' */
/*   otherwise                         -> 'focus' */
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
    l.part_of_day,
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
), hourly AS (
  SELECT
    m.user_id,
    m.hour_of_day,
    MAX(m.part_of_day) AS part_of_day,
    CAST(COUNT(*) AS BIGINT) AS plays,
    CAST(COUNT(*) FILTER(WHERE
      m.has_mood) AS BIGINT) AS n_feature_plays,
    AVG(CASE WHEN m.has_mood THEN m.valence END) AS mean_valence,
    AVG(CASE WHEN m.has_mood THEN m.energy END) AS mean_energy
  FROM music_plays AS m
  GROUP BY
    m.user_id,
    m.hour_of_day
), rounded AS (
  /* rules compare means rounded to 6 decimals, so 0.7 averaged stays 0.7 */
  SELECT
    h.*,
    ROUND(h.mean_valence, 6) AS valence_level,
    ROUND(h.mean_energy, 6) AS energy_level
  FROM hourly AS h
), labelled AS (
  SELECT
    h.*,
    CASE
      WHEN h.valence_level IS NULL OR h.energy_level IS NULL
      THEN NULL
      WHEN h.valence_level >= 0.6 AND h.energy_level >= 0.6
      THEN 'happy-energetic'
      WHEN h.valence_level >= 0.6 AND h.energy_level < 0.4
      THEN 'happy-calm'
      WHEN h.valence_level < 0.4 AND h.energy_level >= 0.6
      THEN 'sad-energetic'
      WHEN h.valence_level < 0.4 AND h.energy_level < 0.4
      THEN 'sad-calm'
      ELSE 'neutral'
    END AS mood_state,
    CASE
      WHEN h.n_feature_plays < 3
      THEN 'not enough data'
      WHEN h.energy_level >= 0.7
      THEN 'workout'
      WHEN h.valence_level >= 0.6 AND h.energy_level >= 0.5
      THEN 'social'
      WHEN h.energy_level < 0.4
      THEN 'wind-down'
      WHEN h.valence_level < 0.4
      THEN 'mood-lift'
      ELSE 'focus'
    END AS suggested_activity,
    CASE
      WHEN h.n_feature_plays < 3
      THEN 'fewer than 3 plays with features'
      WHEN h.energy_level >= 0.7
      THEN 'mean energy >= 0.7'
      WHEN h.valence_level >= 0.6 AND h.energy_level >= 0.5
      THEN 'mean valence >= 0.6 and mean energy >= 0.5'
      WHEN h.energy_level < 0.4
      THEN 'mean energy < 0.4'
      WHEN h.valence_level < 0.4
      THEN 'mean valence < 0.4'
      ELSE '0.4 <= mean energy < 0.7 and mean valence >= 0.4'
    END AS activity_rule
  FROM rounded AS h
), final AS (
  SELECT
    l.user_id,
    l.hour_of_day,
    l.part_of_day,
    l.plays,
    l.n_feature_plays,
    l.mean_valence,
    l.mean_energy,
    l.mood_state,
    'observed' AS state_basis,
    l.suggested_activity,
    l.activity_rule
  FROM labelled AS l
)
SELECT
  *
FROM final
