-- Distribution of each audio feature over a user's plays (skips and untrusted
-- features excluded): min, quartiles, max, mean, sample std.
-- Percentiles interpolate linearly between the two nearest ranks (the
-- definition of DuckDB quantile_cont and Spark percentile). They are computed
-- from counts per distinct value and running sums, so every engine gives the
-- same numbers and memory stays bounded (audio features repeat per track). The
-- value at rank r is the smallest value whose running count reaches r. A user
-- with no usable features gets a row per feature with n_feature_plays = 0 and
-- NULL stats.
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

value_counts as (
    select
        v.user_id,
        v.feature,
        v.value,
        count(*) as plays
    from long_values as v
    group by v.user_id, v.feature, v.value
),

running as (
    select
        c.user_id,
        c.feature,
        c.value,
        c.plays,
        sum(case when c.value is not null then c.plays else 0 end)
            over (partition by c.user_id, c.feature) as n,
        sum(case when c.value is not null then c.plays else 0 end) over (
            partition by c.user_id, c.feature
            order by c.value
            rows between unbounded preceding and current row
        ) as running_plays,
        sum(c.plays * c.value) over (partition by c.user_id, c.feature) as value_sum
    from value_counts as c
),

positioned as (
    select
        r.*,
        r.value_sum / nullif(r.n, 0) as mean_value,
        1 + 0.25 * (r.n - 1) as pos_25,
        1 + 0.50 * (r.n - 1) as pos_50,
        1 + 0.75 * (r.n - 1) as pos_75
    from running as r
),

aggregated as (
    select
        p.user_id,
        p.feature,
        cast(max(p.n) as bigint) as n_feature_plays,
        min(p.value) as min_value,
        max(p.value) as max_value,
        max(p.mean_value) as mean,
        sqrt(
            sum(p.plays * (p.value - p.mean_value) * (p.value - p.mean_value))
            / nullif(max(p.n) - 1, 0)
        ) as std,
        max(p.pos_25) - floor(max(p.pos_25)) as frac_25,
        max(p.pos_50) - floor(max(p.pos_50)) as frac_50,
        max(p.pos_75) - floor(max(p.pos_75)) as frac_75,
        min(case when p.running_plays >= floor(p.pos_25) then p.value end) as low_25,
        min(case when p.running_plays >= ceil(p.pos_25) then p.value end) as high_25,
        min(case when p.running_plays >= floor(p.pos_50) then p.value end) as low_50,
        min(case when p.running_plays >= ceil(p.pos_50) then p.value end) as high_50,
        min(case when p.running_plays >= floor(p.pos_75) then p.value end) as low_75,
        min(case when p.running_plays >= ceil(p.pos_75) then p.value end) as high_75
    from positioned as p
    group by p.user_id, p.feature
),

final as (
    select
        a.user_id,
        a.feature,
        a.n_feature_plays,
        a.min_value,
        a.low_25 + a.frac_25 * (a.high_25 - a.low_25) as p25,
        a.low_50 + a.frac_50 * (a.high_50 - a.low_50) as median,
        a.low_75 + a.frac_75 * (a.high_75 - a.low_75) as p75,
        a.max_value,
        a.mean,
        a.std
    from aggregated as a
)

select * from final
