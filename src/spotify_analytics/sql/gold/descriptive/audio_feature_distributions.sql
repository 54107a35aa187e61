-- Distribution of each audio feature over a user's plays (skips and untrusted
-- features excluded): min, quartiles, max, mean, sample std.
-- Percentiles are computed from the sorted values with linear interpolation
-- (the definition of quantile_cont / Spark percentile), written with list
-- functions so Spark and Trino compute exactly the same numbers. A user with no
-- usable features gets a row per feature with n_feature_plays = 0 and NULL stats.
with listening as (
    select * from listening_with_features
),

params as (
    select allow_synthetic from run_params
),

features as (
    select f.feature
    from (
        values
        ('danceability'), ('energy'), ('valence'), ('acousticness'), ('instrumentalness'),
        ('speechiness'), ('liveness'), ('tempo'), ('loudness')
    ) as f (feature)
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

long_values as (
    select
        fl.user_id,
        fe.feature,
        case when fl.is_mood_play then
            case fe.feature
                when 'danceability' then fl.danceability
                when 'energy' then fl.energy
                when 'valence' then fl.valence
                when 'acousticness' then fl.acousticness
                when 'instrumentalness' then fl.instrumentalness
                when 'speechiness' then fl.speechiness
                when 'liveness' then fl.liveness
                when 'tempo' then fl.tempo
                when 'loudness' then fl.loudness
            end
        end as value
    from flagged as fl
    cross join features as fe
),

aggregated as (
    select
        v.user_id,
        v.feature,
        cast(count(v.value) as bigint) as n_feature_plays,
        min(v.value) as min_value,
        max(v.value) as max_value,
        avg(v.value) as mean,
        stddev_samp(v.value) as std,
        list_sort(list(v.value) filter (where v.value is not null)) as sorted_values
    from long_values as v
    group by v.user_id, v.feature
),

positions as (
    select
        a.*,
        1 + 0.25 * (a.n_feature_plays - 1) as pos_25,
        1 + 0.50 * (a.n_feature_plays - 1) as pos_50,
        1 + 0.75 * (a.n_feature_plays - 1) as pos_75
    from aggregated as a
),

final as (
    select
        p.user_id,
        p.feature,
        p.n_feature_plays,
        p.min_value,
        case when p.n_feature_plays > 0 then
            p.sorted_values[cast(floor(p.pos_25) as bigint)]
            + (p.pos_25 - floor(p.pos_25))
            * (p.sorted_values[cast(ceil(p.pos_25) as bigint)] - p.sorted_values[cast(floor(p.pos_25) as bigint)])
        end as p25,
        case when p.n_feature_plays > 0 then
            p.sorted_values[cast(floor(p.pos_50) as bigint)]
            + (p.pos_50 - floor(p.pos_50))
            * (p.sorted_values[cast(ceil(p.pos_50) as bigint)] - p.sorted_values[cast(floor(p.pos_50) as bigint)])
        end as median,
        case when p.n_feature_plays > 0 then
            p.sorted_values[cast(floor(p.pos_75) as bigint)]
            + (p.pos_75 - floor(p.pos_75))
            * (p.sorted_values[cast(ceil(p.pos_75) as bigint)] - p.sorted_values[cast(floor(p.pos_75) as bigint)])
        end as p75,
        p.max_value,
        p.mean,
        p.std
    from positions as p
)

select * from final
