-- Four playlists per user, each an audio-feature band (bounds inclusive):
--   focus        0.2 <= energy <= 0.6, speechiness <= 0.1, instrumentalness >= 0.3
--   energy_boost energy >= 0.75, danceability >= 0.6, tempo >= 115
--   relaxation   energy <= 0.4, acousticness >= 0.5, tempo <= 110
--   mood_lift    valence >= 0.7, energy >= 0.5
-- Up to 10 tracks from the user's history in the band (music plays that were
-- not skipped, with features; most played first), then up to 10 unheard
-- catalog tracks in the band from the user's top 3 genres (most popular
-- first); rank runs over both, history first.
with listening as (
    select * from listening_with_features
),

catalog as (
    select * from catalog_tracks
),

params as (
    select * from run_params
),

bands as (
    select * from (values
        ('focus', 0.2, 0.6, 0.0, 1.0, 0.0, 0.0, 0.3, 0.1, 0.0, 1000.0),
        ('energy_boost', 0.75, 1.0, 0.0, 1.0, 0.6, 0.0, 0.0, 1.0, 115.0, 1000.0),
        ('relaxation', 0.0, 0.4, 0.0, 1.0, 0.0, 0.5, 0.0, 1.0, 0.0, 110.0),
        ('mood_lift', 0.5, 1.0, 0.7, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1000.0)
    ) as bands (
        playlist,
        energy_min,
        energy_max,
        valence_min,
        valence_max,
        danceability_min,
        acousticness_min,
        instrumentalness_min,
        speechiness_max,
        tempo_min,
        tempo_max
    )
),

feature_plays as (
    select l.*
    from listening as l
    cross join params as p
    where coalesce(l.is_music, false)
        and not coalesce(l.is_skip, false)
        and l.user_id is not null
        and l.valence is not null
        and (coalesce(l.feature_source, '') <> 'synthetic' or p.allow_synthetic)
),

user_support as (
    select
        f.user_id,
        cast(count(*) as bigint) as n_feature_plays
    from feature_plays as f
    group by f.user_id
),

history_tracks as (
    select
        f.user_id,
        f.track_key,
        max(f.track_id) as track_id,
        max(f.track_name) as track_name,
        max(f.artist_name) as artist_name,
        cast(count(*) as bigint) as user_plays,
        avg(f.valence) as valence,
        avg(f.energy) as energy,
        avg(f.danceability) as danceability,
        avg(f.acousticness) as acousticness,
        avg(f.instrumentalness) as instrumentalness,
        avg(f.speechiness) as speechiness,
        avg(f.tempo) as tempo
    from feature_plays as f
    group by f.user_id, f.track_key
),

history_picks as (
    select
        h.user_id,
        b.playlist,
        'history' as source,
        h.track_id,
        h.track_key,
        h.track_name,
        h.artist_name,
        cast(null as varchar) as genre,
        h.user_plays,
        cast(null as bigint) as popularity,
        h.valence,
        h.energy,
        h.danceability,
        h.acousticness,
        h.instrumentalness,
        h.speechiness,
        h.tempo,
        row_number() over (
            partition by h.user_id, b.playlist
            order by h.user_plays desc, h.track_key
        ) as source_rank
    from history_tracks as h
    inner join bands as b
        on h.energy between b.energy_min and b.energy_max
        and h.valence between b.valence_min and b.valence_max
        and h.danceability >= b.danceability_min
        and h.acousticness >= b.acousticness_min
        and h.instrumentalness >= b.instrumentalness_min
        and h.speechiness <= b.speechiness_max
        and h.tempo between b.tempo_min and b.tempo_max
),

play_genres as (
    select
        f.user_id,
        unnest(f.genres) as genre
    from feature_plays as f
),

user_genres as (
    select
        g.user_id,
        g.genre,
        row_number() over (partition by g.user_id order by count(*) desc, g.genre) as genre_rank
    from play_genres as g
    group by g.user_id, g.genre
),

catalog_banded as (
    select
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
    from catalog as c
    inner join bands as b
        on c.energy between b.energy_min and b.energy_max
        and c.valence between b.valence_min and b.valence_max
        and c.danceability >= b.danceability_min
        and c.acousticness >= b.acousticness_min
        and c.instrumentalness >= b.instrumentalness_min
        and c.speechiness <= b.speechiness_max
        and c.tempo between b.tempo_min and b.tempo_max
),

catalog_genres as (
    select
        c.playlist,
        c.track_id,
        unnest(c.genres) as genre
    from catalog_banded as c
),

heard as (
    -- catalog tracks the user has played (catalog_track_id is the catalog track
    -- linked by id, else by name; a played id outside the catalog never matches)
    select distinct
        l.user_id,
        coalesce(l.catalog_track_id, l.track_id) as track_id
    from listening as l
    where coalesce(l.catalog_track_id, l.track_id) is not null
),

catalog_candidates as (
    select
        g.user_id,
        cg.playlist,
        cg.track_id,
        min(g.genre_rank) as genre_rank
    from user_genres as g
    inner join catalog_genres as cg
        on g.genre = cg.genre
    where g.genre_rank <= 3
    group by g.user_id, cg.playlist, cg.track_id
),

catalog_picks as (
    select
        k.user_id,
        k.playlist,
        'catalog' as source,
        c.track_id,
        cast(null as varchar) as track_key,
        c.track_name,
        c.artist_name,
        g.genre,
        cast(null as bigint) as user_plays,
        cast(c.popularity as bigint) as popularity,
        c.valence,
        c.energy,
        c.danceability,
        c.acousticness,
        c.instrumentalness,
        c.speechiness,
        c.tempo,
        row_number() over (
            partition by k.user_id, k.playlist
            order by c.popularity desc, c.track_id
        ) as source_rank
    from catalog_candidates as k
    inner join catalog_banded as c
        on k.track_id = c.track_id and k.playlist = c.playlist
    inner join user_genres as g
        on k.user_id = g.user_id and k.genre_rank = g.genre_rank
    left join heard as h
        on k.user_id = h.user_id and k.track_id = h.track_id
    where h.track_id is null
),

picks as (
    select * from history_picks where source_rank <= 10
    union all
    select * from catalog_picks where source_rank <= 10
),

final as (
    select
        p.user_id,
        p.playlist,
        row_number() over (
            partition by p.user_id, p.playlist
            order by case when p.source = 'history' then 0 else 1 end, p.source_rank
        ) as rank,
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
    from picks as p
    inner join user_support as u
        on p.user_id = u.user_id
)

select * from final
