/* Four playlists per user, each an audio-feature band (bounds inclusive): */
/*   focus        0.2 <= energy <= 0.6, speechiness <= 0.1, instrumentalness >= 0.3 */
/*   energy_boost energy >= 0.75, danceability >= 0.6, tempo >= 115 */
/*   relaxation   energy <= 0.4, acousticness >= 0.5, tempo <= 110 */
/*   mood_lift    valence >= 0.7, energy >= 0.5 */
/* Up to 10 tracks from the user's history in the band (music plays that were */
/* not skipped, with features; most played first), then up to 10 unheard */
/* catalog tracks in the band from the user's top 3 genres (most popular */
/* first); rank runs over both, history first. */
/* A play's features and genres are its track's, so the plays are read as one */
/* row per user and track (user_track_features, and user_track_plays for the */
/* names and the heard tracks). DuckDB materialises a CTE that is read more */
/* than once, so each use of a table has its own import. */
WITH user_tracks AS (
  SELECT
    *
  FROM user_track_features
), track_spellings AS (
  SELECT
    *
  FROM user_track_plays
), heard_tracks AS (
  SELECT
    *
  FROM user_track_features
), heard_spellings AS (
  SELECT
    *
  FROM user_track_plays
), catalog AS (
  SELECT
    *
  FROM catalog_tracks
), params AS (
  SELECT
    *
  FROM run_params
), bands AS (
  SELECT
    *
  FROM VALUES
    ('focus', 0.2, 0.6, 0.0, 1.0, 0.0, 0.0, 0.3, 0.1, 0.0, 1000.0),
    ('energy_boost', 0.75, 1.0, 0.0, 1.0, 0.6, 0.0, 0.0, 1.0, 115.0, 1000.0),
    ('relaxation', 0.0, 0.4, 0.0, 1.0, 0.0, 0.5, 0.0, 1.0, 0.0, 110.0),
    ('mood_lift', 0.5, 1.0, 0.7, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1000.0) AS bands(playlist, energy_min, energy_max, valence_min, valence_max, danceability_min, acousticness_min, instrumentalness_min, speechiness_max, tempo_min, tempo_max)
), history_tracks AS (
  /* per user and track, the feature plays (music, not skipped, with trusted */
  /* features): a play's features and genres are its track's */
  SELECT
    t.user_id,
    t.track_key,
    t.genres,
    t.n_plays - t.n_skips AS user_plays,
    t.valence,
    t.energy,
    t.danceability,
    t.acousticness,
    t.instrumentalness,
    t.speechiness,
    t.tempo
  FROM user_tracks AS t
  CROSS JOIN params AS p
  WHERE
    t.n_plays > t.n_skips
    AND NOT t.valence IS NULL
    AND (
      COALESCE(t.feature_source, '') <> 'synthetic' OR p.allow_synthetic
    )
), genre_lists AS (
  /* feature plays per genre list (tracks share lists), unnested below */
  SELECT
    h.user_id,
    h.genres,
    SUM(h.user_plays) AS plays
  FROM history_tracks AS h
  GROUP BY
    h.user_id,
    h.genres
), user_support AS (
  SELECT
    g.user_id,
    CAST(SUM(g.plays) AS BIGINT) AS n_feature_plays
  FROM genre_lists AS g
  GROUP BY
    g.user_id
), history_banded AS (
  SELECT
    h.*,
    b.playlist
  FROM history_tracks AS h
  INNER JOIN bands AS b
    ON h.energy BETWEEN b.energy_min AND b.energy_max
    AND h.valence BETWEEN b.valence_min AND b.valence_max
    AND h.danceability >= b.danceability_min
    AND h.acousticness >= b.acousticness_min
    AND h.instrumentalness >= b.instrumentalness_min
    AND h.speechiness <= b.speechiness_max
    AND h.tempo BETWEEN b.tempo_min AND b.tempo_max
), history_cutoffs AS (
  /* the plays of the 10th most played track per user and playlist: only */
  /* tracks played at least that often can rank (fewer tracks: no cutoff), */
  /* so only those are sorted */
  SELECT
    c.user_id,
    c.playlist,
    MAX(c.user_plays) AS min_plays
  FROM (
    SELECT
      h.user_id,
      h.playlist,
      h.user_plays,
      SUM(COUNT(*)) OVER (
        PARTITION BY h.user_id, h.playlist
        ORDER BY h.user_plays DESC
        rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
      ) AS tracks_at_or_above
    FROM history_banded AS h
    GROUP BY
      h.user_id,
      h.playlist,
      h.user_plays
  ) AS c
  WHERE
    c.tracks_at_or_above >= 10
  GROUP BY
    c.user_id,
    c.playlist
), history_ranked AS (
  SELECT
    h.*,
    ROW_NUMBER() OVER (
      PARTITION BY h.user_id, h.playlist
      ORDER BY h.user_plays DESC, h.track_key NULLS LAST
    ) AS source_rank
  FROM history_banded AS h
  LEFT JOIN history_cutoffs AS c
    ON h.user_id = c.user_id AND h.playlist = c.playlist
  WHERE
    h.user_plays >= COALESCE(c.min_plays, 0)
), history_top AS (
  SELECT
    *
  FROM history_ranked
  WHERE
    source_rank <= 10
), history_names AS (
  /* names of the picked tracks only: the largest of each over the spellings */
  /* the user played without skipping (the picked tracks have trusted features) */
  SELECT
    sp.user_id,
    sp.track_key,
    MAX(sp.track_id) AS track_id,
    MAX(sp.track_name) AS track_name,
    MAX(sp.artist_name) AS artist_name
  FROM track_spellings AS sp
  INNER JOIN (
    SELECT DISTINCT
      t.user_id,
      t.track_key
    FROM history_top AS t
  ) AS h
    ON sp.user_id = h.user_id AND sp.track_key = h.track_key
  WHERE
    sp.n_plays > sp.n_skips
  GROUP BY
    sp.user_id,
    sp.track_key
), history_picks AS (
  SELECT
    h.user_id,
    h.playlist,
    'history' AS source,
    n.track_id,
    h.track_key,
    n.track_name,
    n.artist_name,
    CAST(NULL AS STRING) AS genre,
    h.user_plays,
    CAST(NULL AS BIGINT) AS popularity,
    h.valence,
    h.energy,
    h.danceability,
    h.acousticness,
    h.instrumentalness,
    h.speechiness,
    h.tempo,
    h.source_rank
  FROM history_top AS h
  INNER JOIN history_names AS n
    ON h.user_id = n.user_id AND h.track_key = n.track_key
), play_genres AS (
  SELECT
    g.user_id,
    EXPLODE(g.genres) AS genre,
    g.plays
  FROM genre_lists AS g
), user_genres AS (
  SELECT
    g.user_id,
    g.genre,
    ROW_NUMBER() OVER (PARTITION BY g.user_id ORDER BY SUM(g.plays) DESC, g.genre NULLS LAST) AS genre_rank
  FROM play_genres AS g
  GROUP BY
    g.user_id,
    g.genre
), catalog_banded AS (
  SELECT
    b.playlist,
    c.track_id,
    c.track_name,
    c.artist_name,
    c.popularity,
    c.genres,
    c.valence,
    c.energy,
    c.danceability,
    c.acousticness,
    c.instrumentalness,
    c.speechiness,
    c.tempo
  FROM catalog AS c
  INNER JOIN bands AS b
    ON c.energy BETWEEN b.energy_min AND b.energy_max
    AND c.valence BETWEEN b.valence_min AND b.valence_max
    AND c.danceability >= b.danceability_min
    AND c.acousticness >= b.acousticness_min
    AND c.instrumentalness >= b.instrumentalness_min
    AND c.speechiness <= b.speechiness_max
    AND c.tempo BETWEEN b.tempo_min AND b.tempo_max
), catalog_genres AS (
  SELECT
    c.playlist,
    c.track_id,
    c.popularity,
    EXPLODE(c.genres) AS genre
  FROM catalog_banded AS c
), heard AS (
  /* catalog tracks the user has played (catalog_track_id is the catalog track */
  /* linked by id, else by name; a played id outside the catalog never */
  /* matches); only music plays carry either, so the user's tracks and their */
  /* spellings hold them all */
  SELECT DISTINCT
    sp.user_id,
    COALESCE(t.catalog_track_id, sp.track_id) AS track_id
  FROM heard_spellings AS sp
  INNER JOIN heard_tracks AS t
    ON sp.user_id = t.user_id AND sp.track_key = t.track_key
  WHERE
    NOT COALESCE(t.catalog_track_id, sp.track_id) IS NULL
), catalog_candidates AS (
  /* unheard banded tracks in the user's top 3 genres, once per such genre */
  SELECT
    g.user_id,
    cg.playlist,
    cg.track_id,
    cg.popularity,
    g.genre,
    g.genre_rank
  FROM user_genres AS g
  INNER JOIN catalog_genres AS cg
    ON g.genre = cg.genre
  LEFT JOIN heard AS h
    ON g.user_id = h.user_id AND cg.track_id = h.track_id
  WHERE
    g.genre_rank <= 3 AND h.track_id IS NULL
), catalog_tracks_once AS (
  /* a track in several of the user's top genres keeps its highest-ranked one */
  SELECT
    k.user_id,
    k.playlist,
    k.track_id,
    MAX(k.popularity) AS popularity,
    MIN(k.genre_rank) AS genre_rank
  FROM catalog_candidates AS k
  GROUP BY
    k.user_id,
    k.playlist,
    k.track_id
), catalog_cutoffs AS (
  /* the popularity of the 10th most popular candidate per user and playlist: */
  /* only tracks at least that popular can rank (fewer candidates: no */
  /* cutoff), so only those are sorted */
  SELECT
    c.user_id,
    c.playlist,
    MAX(c.popularity) AS min_popularity
  FROM (
    SELECT
      k.user_id,
      k.playlist,
      k.popularity,
      SUM(COUNT(*)) OVER (
        PARTITION BY k.user_id, k.playlist
        ORDER BY k.popularity DESC
        rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
      ) AS tracks_at_or_above
    FROM catalog_tracks_once AS k
    GROUP BY
      k.user_id,
      k.playlist,
      k.popularity
  ) AS c
  WHERE
    c.tracks_at_or_above >= 10
  GROUP BY
    c.user_id,
    c.playlist
), catalog_ranked AS (
  SELECT
    k.*,
    ROW_NUMBER() OVER (
      PARTITION BY k.user_id, k.playlist
      ORDER BY k.popularity DESC, k.track_id NULLS LAST
    ) AS source_rank
  FROM catalog_tracks_once AS k
  LEFT JOIN catalog_cutoffs AS c
    ON k.user_id = c.user_id AND k.playlist = c.playlist
  WHERE
    c.min_popularity IS NULL OR k.popularity >= c.min_popularity
), catalog_top AS (
  SELECT
    k.user_id,
    k.playlist,
    k.track_id,
    k.source_rank,
    g.genre
  FROM catalog_ranked AS k
  INNER JOIN user_genres AS g
    ON k.user_id = g.user_id AND k.genre_rank = g.genre_rank
  WHERE
    k.source_rank <= 10
), catalog_picks AS (
  SELECT
    k.user_id,
    k.playlist,
    'catalog' AS source,
    c.track_id,
    CAST(NULL AS STRING) AS track_key,
    c.track_name,
    c.artist_name,
    k.genre,
    CAST(NULL AS BIGINT) AS user_plays,
    CAST(c.popularity AS BIGINT) AS popularity,
    c.valence,
    c.energy,
    c.danceability,
    c.acousticness,
    c.instrumentalness,
    c.speechiness,
    c.tempo,
    k.source_rank
  FROM catalog_top AS k
  INNER JOIN catalog_banded AS c
    ON k.track_id = c.track_id AND k.playlist = c.playlist
), picks AS (
  SELECT
    *
  FROM history_picks
  UNION ALL
  SELECT
    *
  FROM catalog_picks
), final AS (
  SELECT
    p.user_id,
    p.playlist,
    ROW_NUMBER() OVER (
      PARTITION BY p.user_id, p.playlist
      ORDER BY CASE WHEN p.source = 'history' THEN 0 ELSE 1 END NULLS LAST, p.source_rank NULLS LAST
    ) AS rank,
    p.source,
    p.track_id,
    p.track_key,
    p.track_name,
    p.artist_name,
    p.genre,
    p.user_plays,
    p.popularity,
    p.valence,
    p.energy,
    p.danceability,
    p.acousticness,
    p.instrumentalness,
    p.speechiness,
    p.tempo,
    u.n_feature_plays
  FROM picks AS p
  INNER JOIN user_support AS u
    ON p.user_id = u.user_id
)
SELECT
  *
FROM final
