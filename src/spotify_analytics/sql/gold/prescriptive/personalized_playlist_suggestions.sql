-- Four playlists per user, each an audio-feature band (bounds inclusive):
--   focus        0.2 <= energy <= 0.6, speechiness <= 0.1, instrumentalness >= 0.3
--   energy_boost energy >= 0.75, danceability >= 0.6, tempo >= 115
--   relaxation   energy <= 0.4, acousticness >= 0.5, tempo <= 110
--   mood_lift    valence >= 0.7, energy >= 0.5
-- Up to 10 tracks from the user's history in the band (music plays that were
-- not skipped, with features; most played first), then up to 10 unheard
-- catalog tracks in the band from the user's top 3 genres (most popular
-- first); rank runs over both, history first.
-- A play's features and genres are its track's, so the plays are read as one
-- row per user and track (user_track_features, and user_track_plays for the
-- names and the heard tracks). DuckDB materialises a CTE that is read more
-- than once, so each use of a table has its own import.
with user_tracks as (
    select * from user_track_features
),

track_spellings as (
    select * from user_track_plays
),

heard_tracks as (
    select * from user_track_features
),

heard_spellings as (
    select * from user_track_plays
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

history_tracks as (
    -- per user and track, the feature plays (music, not skipped, with trusted
    -- features): a play's features and genres are its track's
    select
        t.user_id,
        t.track_key,
        t.genres,
        t.n_plays - t.n_skips as user_plays,
        t.valence,
        t.energy,
        t.danceability,
        t.acousticness,
        t.instrumentalness,
        t.speechiness,
        t.tempo
    from user_tracks as t
    cross join params as p
    where t.n_plays > t.n_skips
        and t.valence is not null
        and (coalesce(t.feature_source, '') <> 'synthetic' or p.allow_synthetic)
),

genre_lists as (
    -- feature plays per genre list (tracks share lists), unnested below
    select
        h.user_id,
        h.genres,
        sum(h.user_plays) as plays
    from history_tracks as h
    group by h.user_id, h.genres
),

user_support as (
    select
        g.user_id,
        cast(sum(g.plays) as bigint) as n_feature_plays
    from genre_lists as g
    group by g.user_id
),

history_banded as (
    select
        h.*,
        b.playlist
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

history_cutoffs as (
    -- the plays of the 10th most played track per user and playlist: only
    -- tracks played at least that often can rank (fewer tracks: no cutoff),
    -- so only those are sorted
    select
        c.user_id,
        c.playlist,
        max(c.user_plays) as min_plays
    from (
        select
            h.user_id,
            h.playlist,
            h.user_plays,
            sum(count(*)) over (
                partition by h.user_id, h.playlist
                order by h.user_plays desc
                rows between unbounded preceding and current row
            ) as tracks_at_or_above
        from history_banded as h
        group by h.user_id, h.playlist, h.user_plays
    ) as c
    where c.tracks_at_or_above >= 10
    group by c.user_id, c.playlist
),

history_ranked as (
    select
        h.*,
        row_number() over (
            partition by h.user_id, h.playlist
            order by h.user_plays desc, h.track_key
        ) as source_rank
    from history_banded as h
    left join history_cutoffs as c
        on h.user_id = c.user_id and h.playlist = c.playlist
    where h.user_plays >= coalesce(c.min_plays, 0)
),

history_top as (
    select * from history_ranked where source_rank <= 10
),

history_names as (
    -- names of the picked tracks only: the largest of each over the spellings
    -- the user played without skipping (the picked tracks have trusted features)
    select
        sp.user_id,
        sp.track_key,
        max(sp.track_id) as track_id,
        max(sp.track_name) as track_name,
        max(sp.artist_name) as artist_name
    from track_spellings as sp
    inner join (select distinct t.user_id, t.track_key from history_top as t) as h
        on sp.user_id = h.user_id and sp.track_key = h.track_key
    where sp.n_plays > sp.n_skips
    group by sp.user_id, sp.track_key
),

history_picks as (
    select
        h.user_id,
        h.playlist,
        'history' as source,
        n.track_id,
        h.track_key,
        n.track_name,
        n.artist_name,
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
        h.source_rank
    from history_top as h
    inner join history_names as n
        on h.user_id = n.user_id and h.track_key = n.track_key
),

play_genres as (
    select
        g.user_id,
        unnest(g.genres) as genre,
        g.plays
    from genre_lists as g
),

user_genres as (
    select
        g.user_id,
        g.genre,
        row_number() over (partition by g.user_id order by sum(g.plays) desc, g.genre) as genre_rank
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
        c.popularity,
        unnest(c.genres) as genre
    from catalog_banded as c
),

heard as (
    -- catalog tracks the user has played (catalog_track_id is the catalog track
    -- linked by id, else by name; a played id outside the catalog never
    -- matches); only music plays carry either, so the user's tracks and their
    -- spellings hold them all
    select distinct
        sp.user_id,
        coalesce(t.catalog_track_id, sp.track_id) as track_id
    from heard_spellings as sp
    inner join heard_tracks as t
        on sp.user_id = t.user_id and sp.track_key = t.track_key
    where coalesce(t.catalog_track_id, sp.track_id) is not null
),

catalog_candidates as (
    -- unheard banded tracks in the user's top 3 genres, once per such genre
    select
        g.user_id,
        cg.playlist,
        cg.track_id,
        cg.popularity,
        g.genre,
        g.genre_rank
    from user_genres as g
    inner join catalog_genres as cg
        on g.genre = cg.genre
    left join heard as h
        on g.user_id = h.user_id and cg.track_id = h.track_id
    where g.genre_rank <= 3
        and h.track_id is null
),

catalog_tracks_once as (
    -- a track in several of the user's top genres keeps its highest-ranked one
    select
        k.user_id,
        k.playlist,
        k.track_id,
        max(k.popularity) as popularity,
        min(k.genre_rank) as genre_rank
    from catalog_candidates as k
    group by k.user_id, k.playlist, k.track_id
),

catalog_cutoffs as (
    -- the popularity of the 10th most popular candidate per user and playlist:
    -- only tracks at least that popular can rank (fewer candidates: no
    -- cutoff), so only those are sorted
    select
        c.user_id,
        c.playlist,
        max(c.popularity) as min_popularity
    from (
        select
            k.user_id,
            k.playlist,
            k.popularity,
            sum(count(*)) over (
                partition by k.user_id, k.playlist
                order by k.popularity desc
                rows between unbounded preceding and current row
            ) as tracks_at_or_above
        from catalog_tracks_once as k
        group by k.user_id, k.playlist, k.popularity
    ) as c
    where c.tracks_at_or_above >= 10
    group by c.user_id, c.playlist
),

catalog_ranked as (
    select
        k.*,
        row_number() over (
            partition by k.user_id, k.playlist
            order by k.popularity desc, k.track_id
        ) as source_rank
    from catalog_tracks_once as k
    left join catalog_cutoffs as c
        on k.user_id = c.user_id and k.playlist = c.playlist
    where c.min_popularity is null or k.popularity >= c.min_popularity
),

catalog_top as (
    select
        k.user_id,
        k.playlist,
        k.track_id,
        k.source_rank,
        g.genre
    from catalog_ranked as k
    inner join user_genres as g
        on k.user_id = g.user_id and k.genre_rank = g.genre_rank
    where k.source_rank <= 10
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
        k.genre,
        cast(null as bigint) as user_plays,
        cast(c.popularity as bigint) as popularity,
        c.valence,
        c.energy,
        c.danceability,
        c.acousticness,
        c.instrumentalness,
        c.speechiness,
        c.tempo,
        k.source_rank
    from catalog_top as k
    inner join catalog_banded as c
        on k.track_id = c.track_id and k.playlist = c.playlist
),

picks as (
    select * from history_picks
    union all
    select * from catalog_picks
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
