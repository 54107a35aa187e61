-- Hours of the day when this user's music runs sad: local hours whose mean
-- valence (music plays that were not skipped, with features) is below 0.4.
-- priority: 'High' when the mean is below 0.3, otherwise 'Medium' (means are
-- rounded to 6 decimals before comparing).
-- n_feature_plays says how many plays the mean rests on.
with listening as (
    select * from listening_with_features
),

params as (
    select * from run_params
),

mood_plays as (
    select
        l.user_id,
        l.hour_of_day,
        l.part_of_day,
        l.valence,
        l.energy
    from listening as l
    cross join params as p
    where coalesce(l.is_music, false)
        and not coalesce(l.is_skip, false)
        and l.user_id is not null
        and l.hour_of_day is not null
        and l.valence is not null
        and (coalesce(l.feature_source, '') <> 'synthetic' or p.allow_synthetic)
),

hourly as (
    select
        m.user_id,
        m.hour_of_day,
        max(m.part_of_day) as part_of_day,
        cast(count(*) as bigint) as n_feature_plays,
        avg(m.valence) as mean_valence,
        avg(m.energy) as mean_energy
    from mood_plays as m
    group by m.user_id, m.hour_of_day
),

final as (
    select
        h.user_id,
        h.hour_of_day,
        h.part_of_day,
        h.n_feature_plays,
        h.mean_valence,
        h.mean_energy,
        case when round(h.mean_valence, 6) < 0.3 then 'High' else 'Medium' end as priority,
        'mean valence ' || cast(cast(round(h.mean_valence, 2) as decimal(10, 2)) as varchar)
        || case when round(h.mean_valence, 6) < 0.3 then ' < 0.3' else ' < 0.4' end
        || ' over ' || cast(h.n_feature_plays as varchar) || ' play(s)' as trigger_reason,
        'queue the mood_lift playlist before this hour' as suggested_action
    from hourly as h
    where round(h.mean_valence, 6) < 0.4
)

select * from final
