-- What each local hour suits, per user, from the observed mood of the music
-- the user plays then (music plays that were not skipped, with features).
-- mood_state: the shared quadrant rule applied to the hour's mean valence and
-- energy. suggested_activity: the first rule that matches, stated in
-- activity_rule (means rounded to 6 decimals before comparing):
--   fewer than 3 plays with features  -> 'not enough data'
--   mean energy >= 0.7                -> 'workout'
--   mean valence >= 0.6, energy >= 0.5 -> 'social'
--   mean energy < 0.4                 -> 'wind-down'
--   mean valence < 0.4                -> 'mood-lift'
--   otherwise                         -> 'focus'
with listening as (
    select * from listening_with_features
),

params as (
    select * from run_params
),

music_plays as (
    select
        l.user_id,
        l.hour_of_day,
        l.part_of_day,
        l.valence,
        l.energy,
        (
            l.valence is not null
            and l.energy is not null
            and (coalesce(l.feature_source, '') <> 'synthetic' or p.allow_synthetic)
        ) as has_mood
    from listening as l
    cross join params as p
    where coalesce(l.is_music, false)
        and not coalesce(l.is_skip, false)
        and l.user_id is not null
        and l.hour_of_day is not null
),

hourly as (
    select
        m.user_id,
        m.hour_of_day,
        max(m.part_of_day) as part_of_day,
        cast(count(*) as bigint) as plays,
        cast(count(*) filter (where m.has_mood) as bigint) as n_feature_plays,
        avg(case when m.has_mood then m.valence end) as mean_valence,
        avg(case when m.has_mood then m.energy end) as mean_energy
    from music_plays as m
    group by m.user_id, m.hour_of_day
),

rounded as (
    -- rules compare means rounded to 6 decimals, so 0.7 averaged stays 0.7
    select
        h.*,
        round(h.mean_valence, 6) as valence_level,
        round(h.mean_energy, 6) as energy_level
    from hourly as h
),

labelled as (
    select
        h.*,
        case
            when h.valence_level is null or h.energy_level is null then null
            when h.valence_level >= 0.6 and h.energy_level >= 0.6 then 'happy-energetic'
            when h.valence_level >= 0.6 and h.energy_level < 0.4 then 'happy-calm'
            when h.valence_level < 0.4 and h.energy_level >= 0.6 then 'sad-energetic'
            when h.valence_level < 0.4 and h.energy_level < 0.4 then 'sad-calm'
            else 'neutral'
        end as mood_state,
        case
            when h.n_feature_plays < 3 then 'not enough data'
            when h.energy_level >= 0.7 then 'workout'
            when h.valence_level >= 0.6 and h.energy_level >= 0.5 then 'social'
            when h.energy_level < 0.4 then 'wind-down'
            when h.valence_level < 0.4 then 'mood-lift'
            else 'focus'
        end as suggested_activity,
        case
            when h.n_feature_plays < 3 then 'fewer than 3 plays with features'
            when h.energy_level >= 0.7 then 'mean energy >= 0.7'
            when h.valence_level >= 0.6 and h.energy_level >= 0.5
                then 'mean valence >= 0.6 and mean energy >= 0.5'
            when h.energy_level < 0.4 then 'mean energy < 0.4'
            when h.valence_level < 0.4 then 'mean valence < 0.4'
            else '0.4 <= mean energy < 0.7 and mean valence >= 0.4'
        end as activity_rule
    from rounded as h
),

final as (
    select
        l.user_id,
        l.hour_of_day,
        l.part_of_day,
        l.plays,
        l.n_feature_plays,
        l.mean_valence,
        l.mean_energy,
        l.mood_state,
        'observed' as state_basis,
        l.suggested_activity,
        l.activity_rule
    from labelled as l
)

select * from final
