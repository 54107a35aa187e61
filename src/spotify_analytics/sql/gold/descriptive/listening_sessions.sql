-- One row per listening session (a gap of more than the session gap starts a
-- new one): start, end, plays, minutes, skips, mean valence/energy of the
-- non-skipped plays with trusted features, and the dominant mood quadrant
-- (most plays; ties broken by quadrant name).
-- The plays are read once: the quadrant counts ride on the session aggregate
-- (mood_quadrant is one of the five quadrants, or null without energy).
with listening as (
    select * from listening_with_features
),

params as (
    select allow_synthetic from run_params
),

flagged as (
    select
        l.*,
        l.valence is not null
        and not l.is_skip
        and (coalesce(l.feature_source, '') <> 'synthetic' or p.allow_synthetic) as is_mood_play
    from listening as l
    cross join params as p
    where l.is_music
),

per_session as (
    select
        f.user_id,
        f.session_id,
        min(f.started_at) as session_start,
        max(f.played_at) as session_end,
        min(f.played_at_local - (f.ms_played * interval '1 millisecond')) as session_start_local,
        max(f.played_at_local) as session_end_local,
        cast(count(*) as bigint) as plays,
        cast(count(*) filter (where f.is_skip) as bigint) as skips,
        cast(count(distinct f.track_key) as bigint) as distinct_tracks,
        cast(sum(f.ms_played) as double) / 60000.0 as minutes,
        cast(count(*) filter (where f.is_mood_play) as bigint) as n_feature_plays,
        avg(case when f.is_mood_play then f.valence end) as mean_valence,
        avg(case when f.is_mood_play then f.energy end) as mean_energy,
        count(*) filter (where f.is_mood_play and f.mood_quadrant = 'happy-calm') as happy_calm,
        count(*) filter (where f.is_mood_play and f.mood_quadrant = 'happy-energetic')
            as happy_energetic,
        count(*) filter (where f.is_mood_play and f.mood_quadrant = 'neutral') as neutral,
        count(*) filter (where f.is_mood_play and f.mood_quadrant = 'sad-calm') as sad_calm,
        count(*) filter (where f.is_mood_play and f.mood_quadrant = 'sad-energetic') as sad_energetic,
        count(*) filter (where f.is_mood_play and f.mood_quadrant is null) as no_quadrant
    from flagged as f
    group by f.user_id, f.session_id
),

dominant as (
    -- the quadrant with the most plays, ties to the first by name; NULL when
    -- plays without a quadrant are the most (as a NULL group sorted last)
    select
        s.*,
        greatest(s.happy_calm, s.happy_energetic, s.neutral, s.sad_calm, s.sad_energetic, s.no_quadrant)
            as top_plays
    from per_session as s
),

final as (
    select
        d.user_id,
        d.session_id,
        d.session_start,
        d.session_end,
        d.session_start_local,
        d.session_end_local,
        cast(d.session_start_local as date) as date,
        d.plays,
        d.skips,
        d.distinct_tracks,
        d.minutes,
        d.n_feature_plays,
        d.mean_valence,
        d.mean_energy,
        case
            when d.n_feature_plays = 0 then null
            when d.happy_calm = d.top_plays then 'happy-calm'
            when d.happy_energetic = d.top_plays then 'happy-energetic'
            when d.neutral = d.top_plays then 'neutral'
            when d.sad_calm = d.top_plays then 'sad-calm'
            when d.sad_energetic = d.top_plays then 'sad-energetic'
        end as dominant_quadrant
    from dominant as d
)

select * from final
