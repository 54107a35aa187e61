/* A user's 50 most played catalog genres. A play of a track listed under */
/* several genres counts once for each. share_of_plays is the share of the */
/* user's music plays whose track has genres. Ties: minutes, then genre. */
WITH user_tracks AS (
  SELECT
    *
  FROM user_track_features
), track_plays AS (
  /* a track's plays share its genre list: plays per user and track */
  SELECT
    t.user_id,
    t.track_key,
    t.genres,
    t.n_plays AS plays,
    t.n_skips AS skips,
    t.ms_played
  FROM user_tracks AS t
), exploded AS (
  SELECT
    t.user_id,
    EXPLODE(t.genres) AS genre,
    t.track_key,
    t.plays,
    t.skips,
    t.ms_played
  FROM track_plays AS t
), genre_plays AS (
  SELECT
    *
  FROM exploded AS e
  WHERE
    NOT e.genre IS NULL
), plays_with_genres AS (
  SELECT
    t.user_id,
    CAST(SUM(t.plays) AS BIGINT) AS plays
  FROM track_plays AS t
  WHERE
    SIZE(t.genres) > 0
  GROUP BY
    t.user_id
), per_genre AS (
  SELECT
    gp.user_id,
    gp.genre,
    CAST(SUM(gp.plays) AS BIGINT) AS plays,
    CAST(SUM(gp.skips) AS BIGINT) AS skips,
    CAST(COUNT(DISTINCT gp.track_key) AS BIGINT) AS distinct_tracks,
    CAST(SUM(gp.ms_played) AS DOUBLE) / 60000.0 AS minutes
  FROM genre_plays AS gp
  GROUP BY
    gp.user_id,
    gp.genre
), ranked AS (
  SELECT
    pg.*,
    CAST(pg.plays AS DOUBLE) / pw.plays AS share_of_plays,
    CAST(ROW_NUMBER() OVER (
      PARTITION BY pg.user_id
      ORDER BY pg.plays DESC, pg.minutes DESC, pg.genre ASC NULLS LAST
    ) AS BIGINT) AS rank
  FROM per_genre AS pg
  INNER JOIN plays_with_genres AS pw
    ON pg.user_id = pw.user_id
), final AS (
  SELECT
    r.user_id,
    r.rank,
    r.genre,
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
