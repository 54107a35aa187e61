/* One row per catalog track_id. The Kaggle catalog lists a track once per */
/* genre it appears under; keep the first row (lowest row_index) and gather */
/* every genre into a sorted list. */
WITH kaggle_tracks AS (
  SELECT
    *
  FROM kaggle_tracks_bronze
), catalog_rows AS (
  SELECT
    row_index,
    track_id,
    artists,
    album_name,
    track_name,
    popularity,
    duration_ms,
    explicit,
    danceability,
    energy,
    key,
    loudness,
    mode,
    speechiness,
    acousticness,
    instrumentalness,
    liveness,
    valence,
    tempo,
    time_signature,
    track_genre,
    ROW_NUMBER() OVER (PARTITION BY track_id ORDER BY row_index) AS row_rank
  FROM kaggle_tracks
  WHERE
    NOT track_id IS NULL
), genres_per_track AS (
  SELECT
    track_id,
    ARRAY_SORT(ARRAY_AGG(DISTINCT track_genre) FILTER(WHERE
      NOT track_genre IS NULL)) AS genres,
    COUNT(*) AS n_catalog_rows
  FROM catalog_rows
  GROUP BY
    track_id
), first_rows AS (
  SELECT
    *
  FROM catalog_rows
  WHERE
    row_rank = 1
), final AS (
  SELECT
    first_rows.track_id,
    first_rows.row_index,
    first_rows.artists,
    NULLIF(TRIM(SPLIT_PART(first_rows.artists, ';', 1)), '') AS artist_name,
    first_rows.album_name,
    first_rows.track_name,
    first_rows.popularity,
    first_rows.duration_ms,
    first_rows.explicit,
    first_rows.danceability,
    first_rows.energy,
    first_rows.key,
    first_rows.loudness,
    first_rows.mode,
    first_rows.speechiness,
    first_rows.acousticness,
    first_rows.instrumentalness,
    first_rows.liveness,
    first_rows.valence,
    first_rows.tempo,
    first_rows.time_signature,
    first_rows.track_genre,
    genres_per_track.genres,
    CAST(genres_per_track.n_catalog_rows AS BIGINT) AS n_catalog_rows
  FROM first_rows
  INNER JOIN genres_per_track
    ON genres_per_track.track_id = first_rows.track_id
)
SELECT
  *
FROM final
