-- What sets each part of the day apart, per user. For every audio feature the
-- standardized difference z = (mean in this part of day - the user's overall
-- mean) / the user's overall sample std, over the user's music plays that were
-- not skipped and have features. The top driver is the feature with the
-- largest |z| (ties: feature name), second driver the next; NULL when no
-- feature differs (|z| = 0) or the user's std is 0.
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

features as (
    select * from (values ('danceability'), ('energy'), ('loudness'), ('speechiness'), ('acousticness'), ('instrumentalness'), ('liveness'), ('valence'), ('tempo')) as features (feature)
),

long_values as (
    select
        f.user_id,
        f.part_of_day,
        x.feature,
        case x.feature
            when 'danceability' then f.danceability
            when 'energy' then f.energy
            when 'loudness' then f.loudness
            when 'speechiness' then f.speechiness
            when 'acousticness' then f.acousticness
            when 'instrumentalness' then f.instrumentalness
            when 'liveness' then f.liveness
            when 'valence' then f.valence
            when 'tempo' then f.tempo
        end as value
    from music_plays as f
    cross join features as x
    where f.has_features
),

user_stats as (
    select
        v.user_id,
        v.feature,
        avg(v.value) as user_mean,
        stddev_samp(v.value) as user_std
    from long_values as v
    group by v.user_id, v.feature
),

part_stats as (
    select
        v.user_id,
        v.part_of_day,
        v.feature,
        avg(v.value) as pod_mean
    from long_values as v
    group by v.user_id, v.part_of_day, v.feature
),

scored as (
    select
        s.user_id,
        s.part_of_day,
        s.feature,
        s.pod_mean,
        case when u.user_std > 1e-9 then (s.pod_mean - u.user_mean) / u.user_std end as z_score
    from part_stats as s
    inner join user_stats as u
        on s.user_id = u.user_id and s.feature = u.feature
),

ranked as (
    select
        s.*,
        row_number() over (
            partition by s.user_id, s.part_of_day
            order by round(abs(s.z_score), 9) desc, s.feature
        ) as driver_rank
    from scored as s
    where abs(s.z_score) > 1e-9
),

part_plays as (
    select
        m.user_id,
        m.part_of_day,
        cast(count(*) as bigint) as plays,
        cast(count(*) filter (where m.has_features) as bigint) as n_feature_plays
    from music_plays as m
    group by m.user_id, m.part_of_day
),

part_means as (
    select
        s.user_id,
        s.part_of_day,
        max(case when s.feature = 'danceability' then s.pod_mean end) as mean_danceability,
        max(case when s.feature = 'energy' then s.pod_mean end) as mean_energy,
        max(case when s.feature = 'loudness' then s.pod_mean end) as mean_loudness,
        max(case when s.feature = 'speechiness' then s.pod_mean end) as mean_speechiness,
        max(case when s.feature = 'acousticness' then s.pod_mean end) as mean_acousticness,
        max(case when s.feature = 'instrumentalness' then s.pod_mean end) as mean_instrumentalness,
        max(case when s.feature = 'liveness' then s.pod_mean end) as mean_liveness,
        max(case when s.feature = 'valence' then s.pod_mean end) as mean_valence,
        max(case when s.feature = 'tempo' then s.pod_mean end) as mean_tempo,
        max(case when s.feature = 'danceability' then s.z_score end) as danceability_z,
        max(case when s.feature = 'energy' then s.z_score end) as energy_z,
        max(case when s.feature = 'loudness' then s.z_score end) as loudness_z,
        max(case when s.feature = 'speechiness' then s.z_score end) as speechiness_z,
        max(case when s.feature = 'acousticness' then s.z_score end) as acousticness_z,
        max(case when s.feature = 'instrumentalness' then s.z_score end) as instrumentalness_z,
        max(case when s.feature = 'liveness' then s.z_score end) as liveness_z,
        max(case when s.feature = 'valence' then s.z_score end) as valence_z,
        max(case when s.feature = 'tempo' then s.z_score end) as tempo_z
    from scored as s
    group by s.user_id, s.part_of_day
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
        p.user_id,
        p.part_of_day,
        p.plays,
        p.n_feature_plays,
        d.top_driver,
        d.top_driver_z,
        case
            when d.top_driver_z > 0 then 'higher'
            when d.top_driver_z < 0 then 'lower'
        end as top_driver_direction,
        d.second_driver,
        d.second_driver_z,
        m.mean_danceability,
        m.mean_energy,
        m.mean_loudness,
        m.mean_speechiness,
        m.mean_acousticness,
        m.mean_instrumentalness,
        m.mean_liveness,
        m.mean_valence,
        m.mean_tempo,
        m.danceability_z,
        m.energy_z,
        m.loudness_z,
        m.speechiness_z,
        m.acousticness_z,
        m.instrumentalness_z,
        m.liveness_z,
        m.valence_z,
        m.tempo_z
    from part_plays as p
    left join part_means as m
        on p.user_id = m.user_id and p.part_of_day = m.part_of_day
    left join drivers as d
        on p.user_id = d.user_id and p.part_of_day = d.part_of_day
)

select * from final
