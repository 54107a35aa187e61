-- One row per listening session (a gap of more than the session gap starts a
-- new one): start, end, plays, minutes, skips, mean valence/energy of the
-- non-skipped plays with trusted features, and the dominant mood quadrant
-- (most plays; ties broken by quadrant name).
with listening as (
    select * from listening_with_features
),

-- DuckDB materialises a CTE that is read more than once (here: every play,
-- spilled at scale), so the quadrant counts scan the plays through their own
-- import
listening_for_quadrants as (
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
        avg(case when f.is_mood_play then f.energy end) as mean_energy
    from flagged as f
    group by f.user_id, f.session_id
),

quadrant_counts as (
    select
        l.user_id,
        l.session_id,
        l.mood_quadrant,
        count(*) as plays
    from listening_for_quadrants as l
    cross join params as p
    where l.is_music
        and l.valence is not null
        and not l.is_skip
        and (coalesce(l.feature_source, '') <> 'synthetic' or p.allow_synthetic)
    group by l.user_id, l.session_id, l.mood_quadrant
),

dominant as (
    select
        q.user_id,
        q.session_id,
        q.mood_quadrant,
        row_number() over (
            partition by q.user_id, q.session_id
            order by q.plays desc, q.mood_quadrant asc
        ) as quadrant_rank
    from quadrant_counts as q
),

final as (
    select
        s.user_id,
        s.session_id,
        s.session_start,
        s.session_end,
        s.session_start_local,
        s.session_end_local,
        cast(s.session_start_local as date) as date,
        s.plays,
        s.skips,
        s.distinct_tracks,
        s.minutes,
        s.n_feature_plays,
        s.mean_valence,
        s.mean_energy,
        d.mood_quadrant as dominant_quadrant
    from per_session as s
    left join dominant as d
        on s.user_id = d.user_id and s.session_id = d.session_id and d.quadrant_rank = 1
)

select * from final
