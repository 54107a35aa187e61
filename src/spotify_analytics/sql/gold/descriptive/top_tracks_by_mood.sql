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
