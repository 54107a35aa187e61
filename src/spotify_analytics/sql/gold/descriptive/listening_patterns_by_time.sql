-- When a user listens: plays, minutes and mean audio features per local hour of
-- day and ISO day of week (1 = Monday). Means exclude skips and untrusted
-- (synthetic, unless allowed) features; n_feature_plays says how many plays
-- they rest on.
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

music_plays as (
    select
        f.user_id,
        f.hour_of_day,
        f.day_of_week,
        f.day_name,
        f.ms_played,
        f.is_skip,
        f.is_mood_play,
        case when f.is_mood_play then f.valence end as valence,
        case when f.is_mood_play then f.energy end as energy,
        case when f.is_mood_play then f.danceability end as danceability,
        case when f.is_mood_play then f.acousticness end as acousticness,
        case when f.is_mood_play then f.tempo end as tempo
    from flagged as f
),

final as (
    select
        m.user_id,
        m.hour_of_day,
        m.day_of_week,
        min(m.day_name) as day_name,
        cast(count(*) as bigint) as plays,
        cast(count(*) filter (where m.is_skip) as bigint) as skips,
        cast(sum(m.ms_played) as double) / 60000.0 as minutes,
        cast(count(*) filter (where m.is_mood_play) as bigint) as n_feature_plays,
        avg(m.valence) as mean_valence,
        avg(m.energy) as mean_energy,
        avg(m.danceability) as mean_danceability,
        avg(m.acousticness) as mean_acousticness,
        avg(m.tempo) as mean_tempo
    from music_plays as m
    group by m.user_id, m.hour_of_day, m.day_of_week
)

select * from final
