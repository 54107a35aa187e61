-- What sets each part of the day apart, per user. For every audio feature the
-- standardized difference z = (mean in this part of day - the user's overall
-- mean) / the user's overall sample std, over the user's music plays that were
-- not skipped and have features. The top driver is the feature with the
-- largest |z| (|z| rounded to 9 decimals; ties: feature name), second driver
-- the next; NULL when no feature differs (|z| = 0) or the user's std is 0.
with listening as (
    select * from listening_with_features
),

params as (
    select * from run_params
),

music_plays as (
    select
        l.user_id,
        l.part_of_day,
        (
            l.valence is not null
            and (coalesce(l.feature_source, '') <> 'synthetic' or p.allow_synthetic)
        ) as has_features,
        l.danceability,
        l.energy,
        l.loudness,
        l.speechiness,
        l.acousticness,
        l.instrumentalness,
        l.liveness,
        l.valence,
        l.tempo
    from listening as l
    cross join params as p
    where coalesce(l.is_music, false)
        and not coalesce(l.is_skip, false)
        and l.user_id is not null
        and l.part_of_day is not null
),

part_and_user_stats as (
    -- per user and part of day, and (part of day rolled up) per user: one scan
    select
        m.user_id,
        m.part_of_day,
        grouping(m.part_of_day) as is_user_row,
        cast(count(*) as bigint) as plays,
        cast(count(*) filter (where m.has_features) as bigint) as n_feature_plays,
        avg(case when m.has_features then m.danceability end) as mean_danceability,
        stddev_samp(case when m.has_features then m.danceability end) as std_danceability,
        avg(case when m.has_features then m.energy end) as mean_energy,
        stddev_samp(case when m.has_features then m.energy end) as std_energy,
        avg(case when m.has_features then m.loudness end) as mean_loudness,
        stddev_samp(case when m.has_features then m.loudness end) as std_loudness,
        avg(case when m.has_features then m.speechiness end) as mean_speechiness,
        stddev_samp(case when m.has_features then m.speechiness end) as std_speechiness,
        avg(case when m.has_features then m.acousticness end) as mean_acousticness,
        stddev_samp(case when m.has_features then m.acousticness end) as std_acousticness,
        avg(case when m.has_features then m.instrumentalness end) as mean_instrumentalness,
        stddev_samp(case when m.has_features then m.instrumentalness end) as std_instrumentalness,
        avg(case when m.has_features then m.liveness end) as mean_liveness,
        stddev_samp(case when m.has_features then m.liveness end) as std_liveness,
        avg(case when m.has_features then m.valence end) as mean_valence,
        stddev_samp(case when m.has_features then m.valence end) as std_valence,
        avg(case when m.has_features then m.tempo end) as mean_tempo,
        stddev_samp(case when m.has_features then m.tempo end) as std_tempo
    from music_plays as m
    group by grouping sets ((m.user_id, m.part_of_day), (m.user_id))
),

user_stats as (
    select
        u.user_id,
        u.mean_danceability as danceability_mean,
        u.std_danceability as danceability_std,
        u.mean_energy as energy_mean,
        u.std_energy as energy_std,
        u.mean_loudness as loudness_mean,
        u.std_loudness as loudness_std,
        u.mean_speechiness as speechiness_mean,
        u.std_speechiness as speechiness_std,
        u.mean_acousticness as acousticness_mean,
        u.std_acousticness as acousticness_std,
        u.mean_instrumentalness as instrumentalness_mean,
        u.std_instrumentalness as instrumentalness_std,
        u.mean_liveness as liveness_mean,
        u.std_liveness as liveness_std,
        u.mean_valence as valence_mean,
        u.std_valence as valence_std,
        u.mean_tempo as tempo_mean,
        u.std_tempo as tempo_std
    from part_and_user_stats as u
    where u.is_user_row = 1
),

part_stats as (
    select
        s.user_id,
        s.part_of_day,
        s.plays,
        s.n_feature_plays,
        s.mean_danceability,
        s.mean_energy,
        s.mean_loudness,
        s.mean_speechiness,
        s.mean_acousticness,
        s.mean_instrumentalness,
        s.mean_liveness,
        s.mean_valence,
        s.mean_tempo
    from part_and_user_stats as s
    where s.is_user_row = 0
),

part_z as (
    select
        s.*,
        case when u.danceability_std > 1e-9 then (s.mean_danceability - u.danceability_mean) / u.danceability_std end as danceability_z,
        case when u.energy_std > 1e-9 then (s.mean_energy - u.energy_mean) / u.energy_std end as energy_z,
        case when u.loudness_std > 1e-9 then (s.mean_loudness - u.loudness_mean) / u.loudness_std end as loudness_z,
        case when u.speechiness_std > 1e-9 then (s.mean_speechiness - u.speechiness_mean) / u.speechiness_std end as speechiness_z,
        case when u.acousticness_std > 1e-9 then (s.mean_acousticness - u.acousticness_mean) / u.acousticness_std end as acousticness_z,
        case when u.instrumentalness_std > 1e-9 then (s.mean_instrumentalness - u.instrumentalness_mean) / u.instrumentalness_std end as instrumentalness_z,
        case when u.liveness_std > 1e-9 then (s.mean_liveness - u.liveness_mean) / u.liveness_std end as liveness_z,
        case when u.valence_std > 1e-9 then (s.mean_valence - u.valence_mean) / u.valence_std end as valence_z,
        case when u.tempo_std > 1e-9 then (s.mean_tempo - u.tempo_mean) / u.tempo_std end as tempo_z
    from part_stats as s
    left join user_stats as u
        on s.user_id = u.user_id
),

features as (
    select * from (values ('danceability'), ('energy'), ('loudness'), ('speechiness'), ('acousticness'), ('instrumentalness'), ('liveness'), ('valence'), ('tempo')) as features (feature)
),

long_z as (
    select
        z.user_id,
        z.part_of_day,
        x.feature,
        case x.feature
            when 'danceability' then z.danceability_z
            when 'energy' then z.energy_z
            when 'loudness' then z.loudness_z
            when 'speechiness' then z.speechiness_z
            when 'acousticness' then z.acousticness_z
            when 'instrumentalness' then z.instrumentalness_z
            when 'liveness' then z.liveness_z
            when 'valence' then z.valence_z
            when 'tempo' then z.tempo_z
        end as z_score
    from part_z as z
    cross join features as x
),

ranked as (
    select
        l.*,
        row_number() over (
            partition by l.user_id, l.part_of_day
            order by round(abs(l.z_score), 9) desc, l.feature
        ) as driver_rank
    from long_z as l
    where round(abs(l.z_score), 9) > 0
),

drivers as (
    select
        r.user_id,
        r.part_of_day,
        max(case when r.driver_rank = 1 then r.feature end) as top_driver,
        max(case when r.driver_rank = 1 then r.z_score end) as top_driver_z,
        max(case when r.driver_rank = 2 then r.feature end) as second_driver,
        max(case when r.driver_rank = 2 then r.z_score end) as second_driver_z
    from ranked as r
    where r.driver_rank <= 2
    group by r.user_id, r.part_of_day
),

final as (
    select
        z.user_id,
        z.part_of_day,
        z.plays,
        z.n_feature_plays,
        d.top_driver,
        d.top_driver_z,
        case
            when d.top_driver_z > 0 then 'higher'
            when d.top_driver_z < 0 then 'lower'
        end as top_driver_direction,
        d.second_driver,
        d.second_driver_z,
        z.mean_danceability,
        z.mean_energy,
        z.mean_loudness,
        z.mean_speechiness,
        z.mean_acousticness,
        z.mean_instrumentalness,
        z.mean_liveness,
        z.mean_valence,
        z.mean_tempo,
        z.danceability_z,
        z.energy_z,
        z.loudness_z,
        z.speechiness_z,
        z.acousticness_z,
        z.instrumentalness_z,
        z.liveness_z,
        z.valence_z,
        z.tempo_z
    from part_z as z
    left join drivers as d
        on z.user_id = d.user_id and z.part_of_day = d.part_of_day
)

select * from final
