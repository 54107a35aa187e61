/* Tracks that lift this user's mood, per user, from two sources: */
/* (a) history: tracks the user played right after a lower-valence play in the */
/*     same session (music plays that were not skipped, with features), ending */
/*     above the user's mean valence ("lift plays"), and whose mean valence is */
/*     at least the user's mean; ranked by how often they lifted valence, then */
/*     by the mean lift, then track_key. Top 10. */
/* (b) catalog: catalog tracks the user never played, in the user's top 3 */
/*     genres (by plays), with valence above the user's mean, nearest to the */
/*     user's mood-lift profile (the mean features of the lift plays; of the */
/*     plays above the user's mean valence when there are none) by */
/*     Euclidean distance over the nine audio features z-scored with the */
/*     catalog's mean and std (ties: popularity, then track_id). Top 10. */
/*     Users without genres get none. */
/* A play's features, feature_source and genres are its track_key's (Silver */
/* joins them on track_key), so the plays are read as one row per user and */
/* track (user_track_features, and user_track_plays for the names and the */
/* heard tracks); the mean valence and the profiles are play-weighted means */
/* over those rows. Only the session order needs the plays themselves, and */
/* that window carries narrow rows. DuckDB materialises a CTE that is read */
/* more than once, so each use of a table has its own import. */
WITH track_rows AS (
  SELECT
    *
  FROM user_track_features
), track_spellings AS (
  SELECT
    *
  FROM user_track_plays
), listening_for_sequence AS (
  SELECT
    *
  FROM listening_with_features
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
), user_tracks AS (
  /* per user and track over the feature plays (music, not skipped, trusted */
  /* features): a play's features and genres are its track's */
  SELECT
    t.user_id,
    t.track_key,
    t.genres,
    t.n_plays - t.n_skips AS plays,
    t.danceability,
    t.energy,
    t.loudness,
    t.speechiness,
    t.acousticness,
    t.instrumentalness,
    t.liveness,
    t.valence,
    t.tempo
  FROM track_rows AS t
  CROSS JOIN params AS p
  WHERE
    t.n_plays > t.n_skips
    AND NOT t.valence IS NULL
    AND (
      COALESCE(t.feature_source, '') <> 'synthetic' OR p.allow_synthetic
    )
), user_mood AS (
  /* the user's mean valence over the feature plays */
  SELECT
    h.user_id,
    SUM(h.plays * h.valence) / SUM(h.plays) AS user_mean_valence,
    CAST(SUM(h.plays) AS BIGINT) AS n_feature_plays
  FROM user_tracks AS h
  GROUP BY
    h.user_id
), sequenced AS (
  /* the previous music play (not skipped) in the session and its trusted */
  /* valence (null: no usable features); session_play_no orders a session by */
  /* played_at, then play_id */
  SELECT
    m.user_id,
    m.track_key,
    m.valence,
    CASE
      WHEN LAG(m.session_id) OVER (
        PARTITION BY m.user_id
        ORDER BY m.played_at NULLS LAST, m.session_play_no NULLS LAST
      ) = m.session_id
      THEN LAG(m.valence) OVER (
        PARTITION BY m.user_id
        ORDER BY m.played_at NULLS LAST, m.session_play_no NULLS LAST
      )
    END AS prev_valence /* the previous play in the user's order by played_at and session_play_no */ /* is the previous one in the session when it has the same session_id */ /* (sessions follow one another; one sort per user, not per session) */
  FROM (
    SELECT
      l.user_id,
      l.session_id,
      l.played_at,
      l.session_play_no,
      l.track_key,
      CASE
        WHEN COALESCE(l.feature_source, '') <> 'synthetic' OR p.allow_synthetic
        THEN l.valence
      END AS valence
    FROM listening_for_sequence AS l
    CROSS JOIN params AS p
    WHERE
      COALESCE(l.is_music, FALSE)
      AND NOT COALESCE(l.is_skip, FALSE)
      AND NOT l.user_id IS NULL
      AND NOT l.session_id IS NULL
  ) AS m
), track_lifts AS (
  /* lift plays: valence higher than the previous play's in its session and */
  /* above the user's mean (the mood went up, and into the better half) */
  SELECT
    s.user_id,
    s.track_key,
    CAST(COUNT(*) AS BIGINT) AS lift_plays,
    AVG(s.valence - s.prev_valence) AS mean_valence_lift
  FROM sequenced AS s
  INNER JOIN user_mood AS u
    ON s.user_id = u.user_id
  WHERE
    s.valence > s.prev_valence AND s.valence > u.user_mean_valence
  GROUP BY
    s.user_id,
    s.track_key
), history_ranked AS (
  /* the track's mean features over all the user's feature plays of it */
  SELECT
    h.user_id,
    h.track_key,
    h.valence,
    h.energy,
    h.danceability,
    h.acousticness,
    h.tempo,
    t.lift_plays,
    t.mean_valence_lift,
    u.user_mean_valence,
    u.n_feature_plays,
    ROW_NUMBER() OVER (
      PARTITION BY h.user_id
      ORDER BY t.lift_plays DESC, t.mean_valence_lift DESC, h.track_key NULLS LAST
    ) AS rank
  FROM user_tracks AS h
  INNER JOIN track_lifts AS t
    ON h.user_id = t.user_id AND h.track_key = t.track_key
  INNER JOIN user_mood AS u
    ON h.user_id = u.user_id
  WHERE
    h.valence >= u.user_mean_valence
), history_top AS (
  SELECT
    *
  FROM history_ranked
  WHERE
    rank <= 10
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
  INNER JOIN history_top AS h
    ON sp.user_id = h.user_id AND sp.track_key = h.track_key
  WHERE
    sp.n_plays > sp.n_skips
  GROUP BY
    sp.user_id,
    sp.track_key
), lift_profile AS (
  /* mean features of the lift plays: each track weighted by its lift plays */
  SELECT
    t.user_id,
    'lift plays' AS profile_basis,
    SUM(t.lift_plays * h.danceability) / SUM(t.lift_plays) AS danceability,
    SUM(t.lift_plays * h.energy) / SUM(t.lift_plays) AS energy,
    SUM(t.lift_plays * h.loudness) / SUM(t.lift_plays) AS loudness,
    SUM(t.lift_plays * h.speechiness) / SUM(t.lift_plays) AS speechiness,
    SUM(t.lift_plays * h.acousticness) / SUM(t.lift_plays) AS acousticness,
    SUM(t.lift_plays * h.instrumentalness) / SUM(t.lift_plays) AS instrumentalness,
    SUM(t.lift_plays * h.liveness) / SUM(t.lift_plays) AS liveness,
    SUM(t.lift_plays * h.valence) / SUM(t.lift_plays) AS valence,
    SUM(t.lift_plays * h.tempo) / SUM(t.lift_plays) AS tempo
  FROM track_lifts AS t
  INNER JOIN user_tracks AS h
    ON t.user_id = h.user_id AND t.track_key = h.track_key
  GROUP BY
    t.user_id
), high_profile AS (
  /* only for the users without lift plays: mean features of the plays above */
  /* the user's mean valence (each track weighted by its plays) */
  SELECT
    h.user_id,
    'plays above mean valence' AS profile_basis,
    SUM(h.plays * h.danceability) / SUM(h.plays) AS danceability,
    SUM(h.plays * h.energy) / SUM(h.plays) AS energy,
    SUM(h.plays * h.loudness) / SUM(h.plays) AS loudness,
    SUM(h.plays * h.speechiness) / SUM(h.plays) AS speechiness,
    SUM(h.plays * h.acousticness) / SUM(h.plays) AS acousticness,
    SUM(h.plays * h.instrumentalness) / SUM(h.plays) AS instrumentalness,
    SUM(h.plays * h.liveness) / SUM(h.plays) AS liveness,
    SUM(h.plays * h.valence) / SUM(h.plays) AS valence,
    SUM(h.plays * h.tempo) / SUM(h.plays) AS tempo
  FROM user_tracks AS h
  INNER JOIN user_mood AS u
    ON h.user_id = u.user_id
  WHERE
    h.valence > u.user_mean_valence
    AND NOT h.user_id IN (
      SELECT
        l.user_id
      FROM lift_profile AS l
    )
  GROUP BY
    h.user_id
), profiles AS (
  SELECT
    *
  FROM lift_profile
  UNION ALL
  SELECT
    *
  FROM high_profile
), catalog_stats AS (
  SELECT
    AVG(c.danceability) AS danceability_mean,
    AVG(c.energy) AS energy_mean,
    AVG(c.loudness) AS loudness_mean,
    AVG(c.speechiness) AS speechiness_mean,
    AVG(c.acousticness) AS acousticness_mean,
    AVG(c.instrumentalness) AS instrumentalness_mean,
    AVG(c.liveness) AS liveness_mean,
    AVG(c.valence) AS valence_mean,
    AVG(c.tempo) AS tempo_mean,
    STDDEV_SAMP(c.danceability) AS danceability_std,
    STDDEV_SAMP(c.energy) AS energy_std,
    STDDEV_SAMP(c.loudness) AS loudness_std,
    STDDEV_SAMP(c.speechiness) AS speechiness_std,
    STDDEV_SAMP(c.acousticness) AS acousticness_std,
    STDDEV_SAMP(c.instrumentalness) AS instrumentalness_std,
    STDDEV_SAMP(c.liveness) AS liveness_std,
    STDDEV_SAMP(c.valence) AS valence_std,
    STDDEV_SAMP(c.tempo) AS tempo_std
  FROM catalog AS c
), genre_lists AS (
  /* feature plays per genre list (tracks share lists), unnested below */
  SELECT
    h.user_id,
    h.genres,
    SUM(h.plays) AS plays
  FROM user_tracks AS h
  GROUP BY
    h.user_id,
    h.genres
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
), top_genres AS (
  SELECT
    g.user_id,
    g.genre,
    g.genre_rank,
    u.user_mean_valence
  FROM user_genres AS g
  INNER JOIN user_mood AS u
    ON g.user_id = u.user_id
  WHERE
    g.genre_rank <= 3
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
), catalog_z AS (
  /* every catalog track in z-scores (catalog mean and std per feature) */
  SELECT
    c.track_id,
    c.track_name,
    c.artist_name,
    c.popularity,
    c.genres,
    c.valence,
    c.energy,
    c.danceability,
    c.acousticness,
    c.tempo,
    CASE
      WHEN s.danceability_std > 1e-9
      THEN (
        c.danceability - s.danceability_mean
      ) / s.danceability_std
      ELSE 0
    END AS danceability_z,
    CASE
      WHEN s.energy_std > 1e-9
      THEN (
        c.energy - s.energy_mean
      ) / s.energy_std
      ELSE 0
    END AS energy_z,
    CASE
      WHEN s.loudness_std > 1e-9
      THEN (
        c.loudness - s.loudness_mean
      ) / s.loudness_std
      ELSE 0
    END AS loudness_z,
    CASE
      WHEN s.speechiness_std > 1e-9
      THEN (
        c.speechiness - s.speechiness_mean
      ) / s.speechiness_std
      ELSE 0
    END AS speechiness_z,
    CASE
      WHEN s.acousticness_std > 1e-9
      THEN (
        c.acousticness - s.acousticness_mean
      ) / s.acousticness_std
      ELSE 0
    END AS acousticness_z,
    CASE
      WHEN s.instrumentalness_std > 1e-9
      THEN (
        c.instrumentalness - s.instrumentalness_mean
      ) / s.instrumentalness_std
      ELSE 0
    END AS instrumentalness_z,
    CASE
      WHEN s.liveness_std > 1e-9
      THEN (
        c.liveness - s.liveness_mean
      ) / s.liveness_std
      ELSE 0
    END AS liveness_z,
    CASE
      WHEN s.valence_std > 1e-9
      THEN (
        c.valence - s.valence_mean
      ) / s.valence_std
      ELSE 0
    END AS valence_z,
    CASE
      WHEN s.tempo_std > 1e-9
      THEN (
        c.tempo - s.tempo_mean
      ) / s.tempo_std
      ELSE 0
    END AS tempo_z
  FROM catalog AS c
  CROSS JOIN catalog_stats AS s
  WHERE
    NOT c.danceability IS NULL
    AND NOT c.energy IS NULL
    AND NOT c.loudness IS NULL
    AND NOT c.speechiness IS NULL
    AND NOT c.acousticness IS NULL
    AND NOT c.instrumentalness IS NULL
    AND NOT c.liveness IS NULL
    AND NOT c.valence IS NULL
    AND NOT c.tempo IS NULL
), profiles_z AS (
  SELECT
    p.user_id,
    p.profile_basis,
    CASE
      WHEN s.danceability_std > 1e-9
      THEN (
        p.danceability - s.danceability_mean
      ) / s.danceability_std
      ELSE 0
    END AS danceability_z,
    CASE
      WHEN s.energy_std > 1e-9
      THEN (
        p.energy - s.energy_mean
      ) / s.energy_std
      ELSE 0
    END AS energy_z,
    CASE
      WHEN s.loudness_std > 1e-9
      THEN (
        p.loudness - s.loudness_mean
      ) / s.loudness_std
      ELSE 0
    END AS loudness_z,
    CASE
      WHEN s.speechiness_std > 1e-9
      THEN (
        p.speechiness - s.speechiness_mean
      ) / s.speechiness_std
      ELSE 0
    END AS speechiness_z,
    CASE
      WHEN s.acousticness_std > 1e-9
      THEN (
        p.acousticness - s.acousticness_mean
      ) / s.acousticness_std
      ELSE 0
    END AS acousticness_z,
    CASE
      WHEN s.instrumentalness_std > 1e-9
      THEN (
        p.instrumentalness - s.instrumentalness_mean
      ) / s.instrumentalness_std
      ELSE 0
    END AS instrumentalness_z,
    CASE
      WHEN s.liveness_std > 1e-9
      THEN (
        p.liveness - s.liveness_mean
      ) / s.liveness_std
      ELSE 0
    END AS liveness_z,
    CASE
      WHEN s.valence_std > 1e-9
      THEN (
        p.valence - s.valence_mean
      ) / s.valence_std
      ELSE 0
    END AS valence_z,
    CASE
      WHEN s.tempo_std > 1e-9
      THEN (
        p.tempo - s.tempo_mean
      ) / s.tempo_std
      ELSE 0
    END AS tempo_z
  FROM profiles AS p
  CROSS JOIN catalog_stats AS s
), catalog_genres AS (
  SELECT
    c.*,
    EXPLODE(c.genres) AS genre
  FROM catalog_z AS c
), candidates AS (
  /* unheard catalog tracks in the user's top 3 genres, happier than the user's */
  /* mean (the valence test rides on the genre join: no user x catalog product), */
  /* with their distance to the user's profile; a track in several of those */
  /* genres appears once per genre here */
  SELECT
    g.user_id,
    c.track_id,
    g.genre,
    g.genre_rank,
    c.popularity,
    SQRT(
      POWER(c.danceability_z - p.danceability_z, 2) + POWER(c.energy_z - p.energy_z, 2) + POWER(c.loudness_z - p.loudness_z, 2) + POWER(c.speechiness_z - p.speechiness_z, 2) + POWER(c.acousticness_z - p.acousticness_z, 2) + POWER(c.instrumentalness_z - p.instrumentalness_z, 2) + POWER(c.liveness_z - p.liveness_z, 2) + POWER(c.valence_z - p.valence_z, 2) + POWER(c.tempo_z - p.tempo_z, 2)
    ) AS distance
  FROM top_genres AS g
  INNER JOIN catalog_genres AS c
    ON g.genre = c.genre AND c.valence > g.user_mean_valence
  INNER JOIN profiles_z AS p
    ON g.user_id = p.user_id
  LEFT JOIN heard AS h
    ON g.user_id = h.user_id AND c.track_id = h.track_id
  WHERE
    h.track_id IS NULL
), nearest_copies AS (
  /* a track in several of the user's top genres keeps its highest-ranked one */
  SELECT
    k.user_id,
    k.track_id,
    MIN(k.genre_rank) AS genre_rank,
    MIN(k.distance) AS distance,
    MAX(k.popularity) AS popularity
  FROM candidates AS k
  GROUP BY
    k.user_id,
    k.track_id
), distance_cutoffs AS (
  /* a cheap bound before the exact ranking: distances in steps of 0.25; the */
  /* 10 nearest tracks lie in the steps up to the one where the count of */
  /* candidates reaches 10 (every track in a later step is farther than those */
  /* 10), so only the candidates up to that step are sorted */
  SELECT
    c.user_id,
    MIN(c.distance_step) AS max_step
  FROM (
    SELECT
      s.user_id,
      s.distance_step,
      SUM(s.tracks) OVER (
        PARTITION BY s.user_id
        ORDER BY s.distance_step NULLS LAST
        rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
      ) AS tracks_up_to
    FROM (
      SELECT
        n.user_id,
        FLOOR(n.distance * 4) AS distance_step,
        COUNT(*) AS tracks
      FROM nearest_copies AS n
      GROUP BY
        n.user_id,
        FLOOR(n.distance * 4)
    ) AS s
  ) AS c
  WHERE
    c.tracks_up_to >= 10
  GROUP BY
    c.user_id
), nearest_ranked AS (
  SELECT
    n.*,
    ROW_NUMBER() OVER (
      PARTITION BY n.user_id
      ORDER BY n.distance NULLS LAST, n.popularity DESC, n.track_id NULLS LAST
    ) AS rank
  FROM nearest_copies AS n
  LEFT JOIN distance_cutoffs AS c
    ON n.user_id = c.user_id
  WHERE
    c.max_step IS NULL OR FLOOR(n.distance * 4) <= c.max_step
), nearest_picks AS (
  SELECT
    n.user_id,
    n.track_id,
    n.rank,
    n.distance,
    g.genre
  FROM nearest_ranked AS n
  INNER JOIN top_genres AS g
    ON n.user_id = g.user_id AND n.genre_rank = g.genre_rank
  WHERE
    n.rank <= 10
), catalog_ranked AS (
  SELECT
    n.user_id,
    n.rank,
    n.genre,
    n.distance,
    c.track_id,
    c.track_name,
    c.artist_name,
    c.popularity,
    c.valence,
    c.energy,
    c.danceability,
    c.acousticness,
    c.tempo,
    u.user_mean_valence,
    u.n_feature_plays,
    p.profile_basis
  FROM nearest_picks AS n
  INNER JOIN catalog_z AS c
    ON n.track_id = c.track_id
  INNER JOIN profiles_z AS p
    ON n.user_id = p.user_id
  INNER JOIN user_mood AS u
    ON n.user_id = u.user_id
), final AS (
  SELECT
    h.user_id,
    'history' AS source,
    h.rank,
    n.track_id,
    h.track_key,
    n.track_name,
    n.artist_name,
    CAST(NULL AS STRING) AS genre,
    h.valence,
    h.energy,
    h.danceability,
    h.acousticness,
    h.tempo,
    h.lift_plays,
    h.mean_valence_lift,
    CAST(NULL AS DOUBLE) AS distance,
    h.user_mean_valence,
    h.n_feature_plays,
    CAST(NULL AS STRING) AS profile_basis,
    'lifted your valence by +' || CAST(CAST(ROUND(h.mean_valence_lift, 2) AS DECIMAL(10, 2)) AS STRING) || ' on average the ' || CAST(h.lift_plays AS STRING) || ' time(s) it followed a lower-valence track in a session' AS reason
  FROM history_top AS h
  INNER JOIN history_names AS n
    ON h.user_id = n.user_id AND h.track_key = n.track_key
  UNION ALL
  SELECT
    c.user_id,
    'catalog' AS source,
    c.rank,
    c.track_id,
    CAST(NULL AS STRING) AS track_key,
    c.track_name,
    c.artist_name,
    c.genre,
    c.valence,
    c.energy,
    c.danceability,
    c.acousticness,
    c.tempo,
    CAST(NULL AS BIGINT) AS lift_plays,
    CAST(NULL AS DOUBLE) AS mean_valence_lift,
    c.distance,
    c.user_mean_valence,
    c.n_feature_plays,
    c.profile_basis,
    'unheard ' || c.genre || ' track close to your mood-lift profile (distance ' || CAST(CAST(ROUND(c.distance, 2) AS DECIMAL(10, 2)) AS STRING) || '), valence ' || CAST(CAST(ROUND(c.valence, 2) AS DECIMAL(10, 2)) AS STRING) || ' vs your mean ' || CAST(CAST(ROUND(c.user_mean_valence, 2) AS DECIMAL(10, 2)) AS STRING) AS reason
  FROM catalog_ranked AS c
)
SELECT
  *
FROM final
