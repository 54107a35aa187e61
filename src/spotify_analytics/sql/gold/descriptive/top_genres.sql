-- A user's 50 most played catalog genres. A play of a track listed under
-- several genres counts once for each. share_of_plays is the share of the
-- user's music plays whose track has genres. Ties: minutes, then genre.
with listening as (
    select * from listening_with_features
),

exploded as (
    select
        l.user_id,
        unnest(l.genres) as genre,
        l.track_key,
        l.ms_played,
        l.is_skip
    from listening as l
    where l.is_music
),

genre_plays as (
    select * from exploded as e
    where e.genre is not null
),

plays_with_genres as (
    select
        l.user_id,
        cast(count(*) as bigint) as plays
    from listening as l
    where l.is_music and array_length(l.genres) > 0
    group by l.user_id
),

per_genre as (
    select
        gp.user_id,
        gp.genre,
        cast(count(*) as bigint) as plays,
        cast(count(*) filter (where gp.is_skip) as bigint) as skips,
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
