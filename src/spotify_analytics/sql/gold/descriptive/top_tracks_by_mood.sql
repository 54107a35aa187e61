-- The 50 most played tracks of each mood quadrant per user. A play counts when
-- it is not a skip and its track has trusted features. Ties are broken by
-- minutes, then track_key, so the ranking is deterministic. Plays per user
-- and track come from user_track_features (the quadrant is the track's), the
-- names from user_track_plays.
with user_tracks as (
    select * from user_track_features
),

track_spellings as (
    select * from user_track_plays
),

params as (
    select allow_synthetic from run_params
),

per_track as (
    -- a track's quadrant and features are its plays', so its plays that count
    -- are the ones not skipped: n_plays - n_skips, ms_played_not_skipped
    select
        t.user_id,
        t.mood_quadrant,
        t.track_key,
        t.n_plays - t.n_skips as plays,
        cast(t.ms_played_not_skipped as double) / 60000.0 as minutes,
        t.valence,
        t.energy,
        t.feature_source
    from user_tracks as t
    cross join params as p
    where t.n_plays > t.n_skips
        and t.mood_quadrant is not null
        and (coalesce(t.feature_source, '') <> 'synthetic' or p.allow_synthetic)
),

cutoffs as (
    -- the plays of the 50th most played track per user and quadrant: only
    -- tracks played at least that often can rank (groups with fewer tracks
    -- have no cutoff), so only those are sorted
    select
        c.user_id,
        c.mood_quadrant,
        max(c.plays) as min_plays
    from (
        select
            t.user_id,
            t.mood_quadrant,
            t.plays,
            sum(count(*)) over (
                partition by t.user_id, t.mood_quadrant
                order by t.plays desc
                rows between unbounded preceding and current row
            ) as tracks_at_or_above
        from per_track as t
        group by t.user_id, t.mood_quadrant, t.plays
    ) as c
    where c.tracks_at_or_above >= 50
    group by c.user_id, c.mood_quadrant
),

ranked as (
    select
        t.*,
        cast(
            row_number() over (
                partition by t.user_id, t.mood_quadrant
                order by t.plays desc, t.minutes desc, t.track_key asc
            ) as bigint
        ) as rank
    from per_track as t
    left join cutoffs as c
        on t.user_id = c.user_id and t.mood_quadrant = c.mood_quadrant
    where t.plays >= coalesce(c.min_plays, 0)
),

picked_names as (
    -- names of the ranked tracks: the smallest of each over the spellings the
    -- user played without skipping
    select
        sp.user_id,
        sp.track_key,
        min(sp.track_name) as track_name,
        min(sp.artist_name) as artist_name
    from track_spellings as sp
    inner join (
        select distinct r.user_id, r.track_key from ranked as r where r.rank <= 50
    ) as picked
        on sp.user_id = picked.user_id and sp.track_key = picked.track_key
    where sp.n_plays > sp.n_skips
    group by sp.user_id, sp.track_key
),

final as (
    select
        r.user_id,
        r.mood_quadrant,
        r.rank,
        r.track_key,
        n.track_name,
        n.artist_name,
        r.plays,
        r.minutes,
        r.valence,
        r.energy,
        r.feature_source
    from ranked as r
    inner join picked_names as n
        on r.user_id = n.user_id and r.track_key = n.track_key
    where r.rank <= 50
)

select * from final
