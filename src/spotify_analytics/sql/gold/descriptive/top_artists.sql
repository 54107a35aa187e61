-- A user's 50 most played artists (primary artist of each play): plays, skips,
-- minutes, distinct tracks and share of the user's music plays. Ties are
-- broken by minutes, then artist name.
with track_spellings as (
    select * from user_track_plays
),

per_artist as (
    -- user_track_plays counts a user's music plays per track and spelling of
    -- the names, so the artist's plays are the sums over its rows
    select
        t.user_id,
        t.artist_name,
        cast(sum(t.n_plays) as bigint) as plays,
        cast(sum(t.n_skips) as bigint) as skips,
        cast(count(distinct t.track_key) as bigint) as distinct_tracks,
        cast(sum(t.ms_played) as double) / 60000.0 as minutes
    from track_spellings as t
    where t.artist_name is not null
    group by t.user_id, t.artist_name
),

user_plays as (
    select
        a.user_id,
        sum(a.plays) as plays
    from per_artist as a
    group by a.user_id
),

cutoffs as (
    -- the plays of the 50th most played artist per user: only artists played
    -- at least that often can rank (users with fewer artists have no cutoff),
    -- so only those are sorted
    select
        c.user_id,
        max(c.plays) as min_plays
    from (
        select
            a.user_id,
            a.plays,
            sum(count(*)) over (
                partition by a.user_id
                order by a.plays desc
                rows between unbounded preceding and current row
            ) as artists_at_or_above
        from per_artist as a
        group by a.user_id, a.plays
    ) as c
    where c.artists_at_or_above >= 50
    group by c.user_id
),

ranked as (
    select
        a.*,
        cast(a.plays as double) / u.plays as share_of_plays,
        cast(
            row_number() over (
                partition by a.user_id
                order by a.plays desc, a.minutes desc, a.artist_name asc
            ) as bigint
        ) as rank
    from per_artist as a
    inner join user_plays as u
        on a.user_id = u.user_id
    left join cutoffs as c
        on a.user_id = c.user_id
    where a.plays >= coalesce(c.min_plays, 0)
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
