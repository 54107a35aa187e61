-- One row per catalog track_id. The Kaggle catalog lists a track once per
-- genre it appears under; keep the first row (lowest row_index) and gather
-- every genre into a sorted list.
with

kaggle_tracks as (
    select * from kaggle_tracks_bronze
),

catalog_rows as (
    select
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
        row_number() over (partition by track_id order by row_index) as row_rank
    from kaggle_tracks
    where track_id is not null
),

genres_per_track as (
    select
        track_id,
        array_sort(array_agg(distinct track_genre) filter (where track_genre is not null)) as genres,
        count(*) as n_catalog_rows
    from catalog_rows
    group by track_id
),

first_rows as (
    select * from catalog_rows
    where row_rank = 1
),

final as (
    select
        first_rows.track_id,
        first_rows.row_index,
        first_rows.artists,
        nullif(trim(split_part(first_rows.artists, ';', 1)), '') as artist_name,
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
        cast(genres_per_track.n_catalog_rows as bigint) as n_catalog_rows
    from first_rows
    inner join genres_per_track on genres_per_track.track_id = first_rows.track_id
)

select * from final
