-- A user's 50 most played catalog genres. A play of a track listed under
-- several genres counts once for each. share_of_plays is the share of the
-- user's music plays whose track has genres. Ties: minutes, then genre.
with user_tracks as (
    select * from user_track_features
),

track_plays as (
    -- a track's plays share its genre list: plays per user and track
    select
        t.user_id,
        t.track_key,
        t.genres,
        t.n_plays as plays,
        t.n_skips as skips,
        t.ms_played
    from user_tracks as t
),

exploded as (
    select
        t.user_id,
        unnest(t.genres) as genre,
        t.track_key,
        t.plays,
        t.skips,
        t.ms_played
    from track_plays as t
),

genre_plays as (
    select * from exploded as e
    where e.genre is not null
),

plays_with_genres as (
    select
        t.user_id,
        cast(sum(t.plays) as bigint) as plays
    from track_plays as t
    where array_length(t.genres) > 0
    group by t.user_id
),

per_genre as (
    select
        gp.user_id,
        gp.genre,
        cast(sum(gp.plays) as bigint) as plays,
        cast(sum(gp.skips) as bigint) as skips,
        cast(count(distinct gp.track_key) as bigint) as distinct_tracks,
        cast(sum(gp.ms_played) as double) / 60000.0 as minutes
    from genre_plays as gp
    group by gp.user_id, gp.genre
),

ranked as (
    select
        pg.*,
        cast(pg.plays as double) / pw.plays as share_of_plays,
        cast(
            row_number() over (
                partition by pg.user_id
                order by pg.plays desc, pg.minutes desc, pg.genre asc
            ) as bigint
        ) as rank
    from per_genre as pg
    inner join plays_with_genres as pw on pg.user_id = pw.user_id
),

final as (
    select
        r.user_id,
        r.rank,
        r.genre,
        r.plays,
        r.skips,
        r.distinct_tracks,
        r.minutes,
        r.share_of_plays
    from ranked as r
    where r.rank <= 50
)

select * from final
