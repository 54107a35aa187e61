-- A user's 50 most played artists (primary artist of each play): plays, skips,
-- minutes, distinct tracks and share of the user's music plays. Ties are
-- broken by minutes, then artist name.
with listening as (
    select * from listening_with_features
),

music_plays as (
    select
        l.user_id,
        l.artist_name,
        l.track_key,
        l.ms_played,
        l.is_skip
    from listening as l
    where l.is_music and l.artist_name is not null
),

per_artist as (
    select
        m.user_id,
        m.artist_name,
        cast(count(*) as bigint) as plays,
        cast(count(*) filter (where m.is_skip) as bigint) as skips,
        cast(count(distinct m.track_key) as bigint) as distinct_tracks,
        cast(sum(m.ms_played) as double) / 60000.0 as minutes
    from music_plays as m
    group by m.user_id, m.artist_name
),

ranked as (
    select
        a.*,
        cast(a.plays as double) / sum(a.plays) over (partition by a.user_id) as share_of_plays,
        cast(
            row_number() over (
                partition by a.user_id
                order by a.plays desc, a.minutes desc, a.artist_name asc
            ) as bigint
        ) as rank
    from per_artist as a
),

final as (
    select
        r.user_id,
        r.rank,
        r.artist_name,
        r.plays,
        r.skips,
        r.distinct_tracks,
        r.minutes,
        r.share_of_plays
    from ranked as r
    where r.rank <= 50
)

select * from final
