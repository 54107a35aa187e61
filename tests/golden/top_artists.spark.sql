/* A user's 50 most played artists (primary artist of each play): plays, skips, */
/* minutes, distinct tracks and share of the user's music plays. Ties are */
/* broken by minutes, then artist name. */
WITH track_spellings AS (
  SELECT
    *
  FROM user_track_plays
), per_artist AS (
  /* user_track_plays counts a user's music plays per track and spelling of */
  /* the names, so the artist's plays are the sums over its rows */
  SELECT
    t.user_id,
    t.artist_name,
    CAST(SUM(t.n_plays) AS BIGINT) AS plays,
    CAST(SUM(t.n_skips) AS BIGINT) AS skips,
    CAST(COUNT(DISTINCT t.track_key) AS BIGINT) AS distinct_tracks,
    CAST(SUM(t.ms_played) AS DOUBLE) / 60000.0 AS minutes
  FROM track_spellings AS t
  WHERE
    NOT t.artist_name IS NULL
  GROUP BY
    t.user_id,
    t.artist_name
), user_plays AS (
  SELECT
    a.user_id,
    SUM(a.plays) AS plays
  FROM per_artist AS a
  GROUP BY
    a.user_id
), cutoffs AS (
  /* the plays of the 50th most played artist per user: only artists played */
  /* at least that often can rank (users with fewer artists have no cutoff), */
  /* so only those are sorted */
  SELECT
    c.user_id,
    MAX(c.plays) AS min_plays
  FROM (
    SELECT
      a.user_id,
      a.plays,
      SUM(COUNT(*)) OVER (
        PARTITION BY a.user_id
        ORDER BY a.plays DESC
        rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
      ) AS artists_at_or_above
    FROM per_artist AS a
    GROUP BY
      a.user_id,
      a.plays
  ) AS c
  WHERE
    c.artists_at_or_above >= 50
  GROUP BY
    c.user_id
), ranked AS (
  SELECT
    a.*,
    CAST(a.plays AS DOUBLE) / u.plays AS share_of_plays,
    CAST(ROW_NUMBER() OVER (
      PARTITION BY a.user_id
      ORDER BY a.plays DESC, a.minutes DESC, a.artist_name ASC NULLS LAST
    ) AS BIGINT) AS rank
  FROM per_artist AS a
  INNER JOIN user_plays AS u
    ON a.user_id = u.user_id
  LEFT JOIN cutoffs AS c
    ON a.user_id = c.user_id
  WHERE
    a.plays >= COALESCE(c.min_plays, 0)
), final AS (
  SELECT
    r.user_id,
    r.rank,
    r.artist_name,
    r.plays,
    r.skips,
    r.distinct_tracks,
    r.minutes,
    r.share_of_plays
  FROM ranked AS r
  WHERE
    r.rank <= 50
)
SELECT
  *
FROM final
