/* A Wrapped-style summary per user and local calendar year: minutes, plays, */
/* distinct tracks and artists, top 5 tracks/artists/genres (as ordered lists), */
/* mood profile (share of non-skipped plays with trusted features per quadrant; */
/* NULL without such plays), busiest hour, longest session, longest streak of */
/* consecutive days with music. */
WITH listening AS (
  SELECT
    *
  FROM listening_with_features
), listening_for_tracks /* DuckDB materialises a CTE that is read more than once (here: every play, */ /* spilled at scale), so each count below scans the plays through its own */ /* import and reads only the columns it needs */ AS (
  SELECT
    *
  FROM listening_with_features
), listening_for_artists AS (
  SELECT
    *
  FROM listening_with_features
), listening_for_genres AS (
  SELECT
    *
  FROM listening_with_features
), listening_for_hours AS (
  SELECT
    *
  FROM listening_with_features
), listening_for_days AS (
  SELECT
    *
  FROM listening_with_features
), sessions AS (
  SELECT
    *
  FROM listening_sessions
), params AS (
  SELECT
    allow_synthetic
  FROM run_params
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
), totals AS (
  SELECT
    f.user_id,
    f.year,
    CAST(COUNT(*) AS BIGINT) AS plays,
    CAST(COUNT(*) FILTER(WHERE
      f.is_skip) AS BIGINT) AS skips,
    CAST(SUM(f.ms_played) AS DOUBLE) / 60000.0 AS minutes,
    CAST(COUNT(DISTINCT f.track_key) AS BIGINT) AS distinct_tracks,
    CAST(COUNT(DISTINCT f.artist_name) AS BIGINT) AS distinct_artists,
    CAST(COUNT(*) FILTER(WHERE
      f.is_mood_play) AS BIGINT) AS n_feature_plays,
    COUNT(*) FILTER(WHERE
      f.is_mood_play AND f.mood_quadrant = 'happy-energetic') AS happy_energetic,
    COUNT(*) FILTER(WHERE
      f.is_mood_play AND f.mood_quadrant = 'happy-calm') AS happy_calm,
    COUNT(*) FILTER(WHERE
      f.is_mood_play AND f.mood_quadrant = 'sad-energetic') AS sad_energetic,
    COUNT(*) FILTER(WHERE
      f.is_mood_play AND f.mood_quadrant = 'sad-calm') AS sad_calm,
    COUNT(*) FILTER(WHERE
      f.is_mood_play AND f.mood_quadrant = 'neutral') AS neutral
  FROM flagged AS f
  GROUP BY
    f.user_id,
    f.year
), track_counts AS (
  SELECT
    f.user_id,
    f.year,
    f.track_key,
    CONCAT_WS(' - ', MIN(f.track_name), MIN(f.artist_name)) AS label,
    COUNT(*) AS plays,
    SUM(f.ms_played) AS ms_played
  FROM listening_for_tracks AS f
  WHERE
    f.is_music
  GROUP BY
    f.user_id,
    f.year,
    f.track_key
), artist_counts AS (
  SELECT
    f.user_id,
    f.year,
    f.artist_name AS label,
    COUNT(*) AS plays,
    SUM(f.ms_played) AS ms_played
  FROM listening_for_artists AS f
  WHERE
    f.is_music AND NOT f.artist_name IS NULL
  GROUP BY
    f.user_id,
    f.year,
    f.artist_name
), genre_plays AS (
  SELECT
    f.user_id,
    f.year,
    EXPLODE(f.genres) AS genre,
    f.ms_played
  FROM listening_for_genres AS f
  WHERE
    f.is_music
), genre_counts AS (
  SELECT
    g.user_id,
    g.year,
    g.genre AS label,
    COUNT(*) AS plays,
    SUM(g.ms_played) AS ms_played
  FROM genre_plays AS g
  WHERE
    NOT g.genre IS NULL
  GROUP BY
    g.user_id,
    g.year,
    g.genre
), ranked_items AS (
  SELECT
    'track' AS kind,
    t.user_id,
    t.year,
    t.label,
    ROW_NUMBER() OVER (
      PARTITION BY t.user_id, t.year
      ORDER BY t.plays DESC, t.ms_played DESC, t.track_key ASC NULLS LAST
    ) AS item_rank
  FROM track_counts AS t
  UNION ALL
  SELECT
    'artist' AS kind,
    a.user_id,
    a.year,
    a.label,
    ROW_NUMBER() OVER (
      PARTITION BY a.user_id, a.year
      ORDER BY a.plays DESC, a.ms_played DESC, a.label ASC NULLS LAST
    ) AS item_rank
  FROM artist_counts AS a
  UNION ALL
  SELECT
    'genre' AS kind,
    g.user_id,
    g.year,
    g.label,
    ROW_NUMBER() OVER (
      PARTITION BY g.user_id, g.year
      ORDER BY g.plays DESC, g.ms_played DESC, g.label ASC NULLS LAST
    ) AS item_rank
  FROM genre_counts AS g
), top_lists AS (
  SELECT
    r.user_id,
    r.year,
    r.kind,
    FILTER(
      ARRAY(
        MAX(CASE WHEN r.item_rank = 1 THEN r.label END),
        MAX(CASE WHEN r.item_rank = 2 THEN r.label END),
        MAX(CASE WHEN r.item_rank = 3 THEN r.label END),
        MAX(CASE WHEN r.item_rank = 4 THEN r.label END),
        MAX(CASE WHEN r.item_rank = 5 THEN r.label END)
      ),
      x -> NOT x IS NULL
    ) AS items
  FROM ranked_items AS r
  WHERE
    r.item_rank <= 5
  GROUP BY
    r.user_id,
    r.year,
    r.kind
), hour_counts AS (
  SELECT
    f.user_id,
    f.year,
    f.hour_of_day,
    ROW_NUMBER() OVER (
      PARTITION BY f.user_id, f.year
      ORDER BY COUNT(*) DESC, f.hour_of_day ASC NULLS LAST
    ) AS hour_rank
  FROM listening_for_hours AS f
  WHERE
    f.is_music
  GROUP BY
    f.user_id,
    f.year,
    f.hour_of_day
), longest_sessions AS (
  SELECT
    s.user_id,
    YEAR(s.session_start_local) AS year,
    MAX(s.minutes) AS longest_session_minutes
  FROM sessions AS s
  GROUP BY
    s.user_id,
    YEAR(s.session_start_local)
), listening_days AS (
  SELECT DISTINCT
    f.user_id,
    f.year,
    f.date
  FROM listening_for_days AS f
  WHERE
    f.is_music
), streak_groups AS (
  SELECT
    d.user_id,
    d.year,
    DATEDIFF(DAY, CAST('1970-01-01' AS DATE), d.date) - ROW_NUMBER() OVER (PARTITION BY d.user_id, d.year ORDER BY d.date NULLS LAST) AS streak_group
  FROM listening_days AS d
), streaks AS (
  SELECT
    sg.user_id,
    sg.year,
    CAST(MAX(sg.days) AS BIGINT) AS longest_streak_days
  FROM (
    SELECT
      g.user_id,
      g.year,
      COUNT(*) AS days
    FROM streak_groups AS g
    GROUP BY
      g.user_id,
      g.year,
      g.streak_group
  ) AS sg
  GROUP BY
    sg.user_id,
    sg.year
), final AS (
  SELECT
    t.user_id,
    t.year,
    t.plays,
    t.skips,
    t.minutes,
    t.distinct_tracks,
    t.distinct_artists,
    tt.items AS top_tracks,
    ta.items AS top_artists,
    tg.items AS top_genres,
    t.n_feature_plays,
    CASE
      WHEN t.n_feature_plays > 0
      THEN CAST(t.happy_energetic AS DOUBLE) / t.n_feature_plays
    END AS share_happy_energetic,
    CASE
      WHEN t.n_feature_plays > 0
      THEN CAST(t.happy_calm AS DOUBLE) / t.n_feature_plays
    END AS share_happy_calm,
    CASE
      WHEN t.n_feature_plays > 0
      THEN CAST(t.sad_energetic AS DOUBLE) / t.n_feature_plays
    END AS share_sad_energetic,
    CASE
      WHEN t.n_feature_plays > 0
      THEN CAST(t.sad_calm AS DOUBLE) / t.n_feature_plays
    END AS share_sad_calm,
    CASE
      WHEN t.n_feature_plays > 0
      THEN CAST(t.neutral AS DOUBLE) / t.n_feature_plays
    END AS share_neutral,
    h.hour_of_day AS busiest_hour,
    ls.longest_session_minutes,
    st.longest_streak_days
  FROM totals AS t
  LEFT JOIN top_lists AS tt
    ON t.user_id = tt.user_id AND t.year = tt.year AND tt.kind = 'track'
  LEFT JOIN top_lists AS ta
    ON t.user_id = ta.user_id AND t.year = ta.year AND ta.kind = 'artist'
  LEFT JOIN top_lists AS tg
    ON t.user_id = tg.user_id AND t.year = tg.year AND tg.kind = 'genre'
  LEFT JOIN hour_counts AS h
    ON t.user_id = h.user_id AND t.year = h.year AND h.hour_rank = 1
  LEFT JOIN longest_sessions AS ls
    ON t.user_id = ls.user_id AND t.year = ls.year
  LEFT JOIN streaks AS st
    ON t.user_id = st.user_id AND t.year = st.year
)
SELECT
  *
FROM final
