/* A Wrapped-style summary per user and local calendar year: minutes, plays, */
/* distinct tracks and artists, top 5 tracks/artists/genres (as ordered lists), */
/* mood profile (share of non-skipped plays with trusted features per quadrant; */
/* NULL without such plays), busiest hour, longest session, longest streak of */
/* consecutive days with music. */
/* The plays are read twice: counted per user, year, track, artist spelling */
/* and genre list (every count below adds those up), and per user, year, date */
/* and hour. */
WITH listening AS (
  SELECT
    *
  FROM listening_with_features
), listening_for_hours /* DuckDB materialises a CTE that is read more than once (here: every play, */ /* spilled at scale), so the second count scans the plays through its own */ /* import and reads only the columns it needs */ AS (
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
), track_plays AS (
  /* music plays per user, year, track, artist spelling and genre list */
  SELECT
    f.user_id,
    f.year,
    f.track_key,
    f.artist_name,
    f.genres,
    MIN(f.track_name) AS track_name,
    COUNT(*) AS plays,
    COUNT(*) FILTER(WHERE
      f.is_skip) AS skips,
    SUM(f.ms_played) AS ms_played,
    COUNT(*) FILTER(WHERE
      f.is_mood_play) AS n_feature_plays,
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
    f.year,
    f.track_key,
    f.artist_name,
    f.genres
), totals AS (
  SELECT
    t.user_id,
    t.year,
    CAST(SUM(t.plays) AS BIGINT) AS plays,
    CAST(SUM(t.skips) AS BIGINT) AS skips,
    CAST(SUM(t.ms_played) AS DOUBLE) / 60000.0 AS minutes,
    CAST(COUNT(DISTINCT t.track_key) AS BIGINT) AS distinct_tracks,
    CAST(COUNT(DISTINCT t.artist_name) AS BIGINT) AS distinct_artists,
    CAST(SUM(t.n_feature_plays) AS BIGINT) AS n_feature_plays,
    SUM(t.happy_energetic) AS happy_energetic,
    SUM(t.happy_calm) AS happy_calm,
    SUM(t.sad_energetic) AS sad_energetic,
    SUM(t.sad_calm) AS sad_calm,
    SUM(t.neutral) AS neutral
  FROM track_plays AS t
  GROUP BY
    t.user_id,
    t.year
), track_counts AS (
  SELECT
    t.user_id,
    t.year,
    t.track_key,
    CONCAT_WS(' - ', CAST(MIN(t.track_name) AS VARCHAR), CAST(MIN(t.artist_name) AS VARCHAR)) AS label,
    SUM(t.plays) AS plays,
    SUM(t.ms_played) AS ms_played
  FROM track_plays AS t
  GROUP BY
    t.user_id,
    t.year,
    t.track_key
), artist_counts AS (
  SELECT
    t.user_id,
    t.year,
    t.artist_name AS label,
    SUM(t.plays) AS plays,
    SUM(t.ms_played) AS ms_played
  FROM track_plays AS t
  WHERE
    NOT t.artist_name IS NULL
  GROUP BY
    t.user_id,
    t.year,
    t.artist_name
), genre_plays AS (
  SELECT
    t.user_id,
    t.year,
    IF(_u.pos = _u_2.pos_2, _u_2.genre) AS genre,
    t.plays,
    t.ms_played
  FROM track_plays AS t
  CROSS JOIN UNNEST(SEQUENCE(1, GREATEST(CARDINALITY(t.genres)))) AS _u(pos)
  CROSS JOIN UNNEST(t.genres) WITH ORDINALITY AS _u_2(genre, pos_2)
  WHERE
    _u.pos = _u_2.pos_2
    OR (
      _u.pos > CARDINALITY(t.genres) AND _u_2.pos_2 = CARDINALITY(t.genres)
    )
), genre_counts AS (
  SELECT
    g.user_id,
    g.year,
    g.genre AS label,
    SUM(g.plays) AS plays,
    SUM(g.ms_played) AS ms_played
  FROM genre_plays AS g
  WHERE
    NOT g.genre IS NULL
  GROUP BY
    g.user_id,
    g.year,
    g.genre
), hour_plays AS (
  /* music plays per user, year, local date and hour */
  SELECT
    f.user_id,
    f.year,
    f.date,
    f.hour_of_day,
    COUNT(*) AS plays
  FROM listening_for_hours AS f
  WHERE
    f.is_music
  GROUP BY
    f.user_id,
    f.year,
    f.date,
    f.hour_of_day
), track_cutoffs AS (
  /* the plays of the 5th most played track per user and year: only tracks */
  /* played at least that often can make the top 5 (users with fewer tracks */
  /* have no cutoff), so only those are sorted */
  SELECT
    c.user_id,
    c.year,
    MAX(c.plays) AS min_plays
  FROM (
    SELECT
      t.user_id,
      t.year,
      t.plays,
      SUM(COUNT(*)) OVER (
        PARTITION BY t.user_id, t.year
        ORDER BY t.plays DESC
        rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
      ) AS items_at_or_above
    FROM track_counts AS t
    GROUP BY
      t.user_id,
      t.year,
      t.plays
  ) AS c
  WHERE
    c.items_at_or_above >= 5
  GROUP BY
    c.user_id,
    c.year
), artist_cutoffs AS (
  /* the same for artists */
  SELECT
    c.user_id,
    c.year,
    MAX(c.plays) AS min_plays
  FROM (
    SELECT
      a.user_id,
      a.year,
      a.plays,
      SUM(COUNT(*)) OVER (
        PARTITION BY a.user_id, a.year
        ORDER BY a.plays DESC
        rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
      ) AS items_at_or_above
    FROM artist_counts AS a
    GROUP BY
      a.user_id,
      a.year,
      a.plays
  ) AS c
  WHERE
    c.items_at_or_above >= 5
  GROUP BY
    c.user_id,
    c.year
), ranked_items AS (
  SELECT
    'track' AS kind,
    t.user_id,
    t.year,
    t.label,
    ROW_NUMBER() OVER (
      PARTITION BY t.user_id, t.year
      ORDER BY t.plays DESC, t.ms_played DESC, t.track_key ASC
    ) AS item_rank
  FROM track_counts AS t
  LEFT JOIN track_cutoffs AS c
    ON t.user_id = c.user_id AND t.year = c.year
  WHERE
    t.plays >= COALESCE(c.min_plays, 0)
  UNION ALL
  SELECT
    'artist' AS kind,
    a.user_id,
    a.year,
    a.label,
    ROW_NUMBER() OVER (
      PARTITION BY a.user_id, a.year
      ORDER BY a.plays DESC, a.ms_played DESC, a.label ASC
    ) AS item_rank
  FROM artist_counts AS a
  LEFT JOIN artist_cutoffs AS c
    ON a.user_id = c.user_id AND a.year = c.year
  WHERE
    a.plays >= COALESCE(c.min_plays, 0)
  UNION ALL
  SELECT
    'genre' AS kind,
    g.user_id,
    g.year,
    g.label,
    ROW_NUMBER() OVER (
      PARTITION BY g.user_id, g.year
      ORDER BY g.plays DESC, g.ms_played DESC, g.label ASC
    ) AS item_rank
  FROM genre_counts AS g
), top_lists AS (
  SELECT
    r.user_id,
    r.year,
    r.kind,
    FILTER(
      ARRAY[MAX(CASE WHEN r.item_rank = 1 THEN r.label END), MAX(CASE WHEN r.item_rank = 2 THEN r.label END), MAX(CASE WHEN r.item_rank = 3 THEN r.label END), MAX(CASE WHEN r.item_rank = 4 THEN r.label END), MAX(CASE WHEN r.item_rank = 5 THEN r.label END)],
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
    h.user_id,
    h.year,
    h.hour_of_day,
    ROW_NUMBER() OVER (PARTITION BY h.user_id, h.year ORDER BY SUM(h.plays) DESC, h.hour_of_day ASC) AS hour_rank
  FROM hour_plays AS h
  GROUP BY
    h.user_id,
    h.year,
    h.hour_of_day
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
    h.user_id,
    h.year,
    h.date
  FROM hour_plays AS h
), streak_groups AS (
  SELECT
    d.user_id,
    d.year,
    DATE_DIFF('DAY', DATE_TRUNC('DAY', CAST('1970-01-01' AS DATE)), DATE_TRUNC('DAY', d.date)) - ROW_NUMBER() OVER (PARTITION BY d.user_id, d.year ORDER BY d.date) AS streak_group
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
