/* A user's 50 most played artists (primary artist of each play): plays, skips, */
/* minutes, distinct tracks and share of the user's music plays. Ties are */
/* broken by minutes, then artist name. */
WITH listening AS (
  SELECT
    *
  FROM listening_with_features
), music_plays AS (
  SELECT
    l.user_id,
    l.artist_name,
    l.track_key,
    l.ms_played,
    l.is_skip
  FROM listening AS l
  WHERE
    l.is_music AND NOT l.artist_name IS NULL
), per_artist AS (
  SELECT
    m.user_id,
    m.artist_name,
    CAST(COUNT(*) AS BIGINT) AS plays,
    CAST(COUNT(*) FILTER(WHERE
      m.is_skip) AS BIGINT) AS skips,
    CAST(COUNT(DISTINCT m.track_key) AS BIGINT) AS distinct_tracks,
    CAST(SUM(m.ms_played) AS DOUBLE) / 60000.0 AS minutes
  FROM music_plays AS m
  GROUP BY
    m.user_id,
    m.artist_name
), ranked AS (
  SELECT
    a.*,
    CAST(a.plays AS DOUBLE) / SUM(a.plays) OVER (PARTITION BY a.user_id) AS share_of_plays,
    CAST(ROW_NUMBER() OVER (
      PARTITION BY a.user_id
      ORDER BY a.plays DESC, a.minutes DESC, a.artist_name ASC NULLS LAST
    ) AS BIGINT) AS rank
  FROM per_artist AS a
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
