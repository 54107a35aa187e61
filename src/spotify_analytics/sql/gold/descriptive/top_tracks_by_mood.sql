-- The 50 most played tracks of each mood quadrant per user. A play counts when
-- it is not a skip and its track has trusted features. Ties are broken by
-- minutes, then track_key, so the ranking is deterministic.
with listening as (
    select * from listening_with_features
),

params as (
    select allow_synthetic from run_params
),

mood_plays as (
    select
        l.user_id,
        l.mood_quadrant,
        l.track_key,
        l.track_name,
        l.artist_name,
        l.ms_played,
        l.valence,
        l.energy,
        l.feature_source
    from listening as l
    cross join params as p
    where
        l.is_music
        and not l.is_skip
        and l.mood_quadrant is not null
        and (coalesce(l.feature_source, '') <> 'synthetic' or p.allow_synthetic)
),

per_track as (
    select
        m.user_id,
        m.mood_quadrant,
        m.track_key,
        min(m.track_name) as track_name,
        min(m.artist_name) as artist_name,
        cast(count(*) as bigint) as plays,
        cast(sum(m.ms_played) as double) / 60000.0 as minutes,
        min(m.valence) as valence,
        min(m.energy) as energy,
        min(m.feature_source) as feature_source
    from mood_plays as m
    group by m.user_id, m.mood_quadrant, m.track_key
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

final as (
    select
        r.user_id,
        r.mood_quadrant,
        r.rank,
        r.track_key,
        r.track_name,
        r.artist_name,
        r.plays,
        r.minutes,
        r.valence,
        r.energy,
        r.feature_source
    from ranked as r
    where r.rank <= 50
)

select * from final
