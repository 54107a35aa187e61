-- Distribution of each audio feature over a user's plays (skips and untrusted
-- features excluded): min, quartiles, max, mean, sample std.
-- Percentiles interpolate linearly between the two nearest ranks (the
-- definition of DuckDB quantile_cont and Spark percentile). They are computed
-- from play counts per user and track and running sums of those counts in
-- value order, so every engine gives the same numbers and memory stays bounded
-- (audio features repeat per track). The value at rank r is the smallest value
-- whose running count reaches r (ties in any order give the same value). A user
-- with no usable features gets a row per feature with n_feature_plays = 0 and
-- NULL stats.
with listening as (
    select * from listening_with_features
),

params as (
    select allow_synthetic from run_params
),

features as (
    -- numbered: the per-feature steps below key on the number, not the name
    select
        f.feature_no,
        f.feature
    from (
        values
        (1, 'danceability'), (2, 'energy'), (3, 'valence'), (4, 'acousticness'),
        (5, 'instrumentalness'), (6, 'speechiness'), (7, 'liveness'), (8, 'tempo'),
        (9, 'loudness')
    ) as f (feature_no, feature)
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

-- features belong to the track, so count usable plays per user and track first
track_plays as (
    select
        fl.user_id,
        fl.track_key,
        count(*) filter (where fl.is_mood_play) as plays,
        max(case when fl.is_mood_play then fl.danceability end) as danceability,
        max(case when fl.is_mood_play then fl.energy end) as energy,
        max(case when fl.is_mood_play then fl.valence end) as valence,
        max(case when fl.is_mood_play then fl.acousticness end) as acousticness,
        max(case when fl.is_mood_play then fl.instrumentalness end) as instrumentalness,
        max(case when fl.is_mood_play then fl.speechiness end) as speechiness,
        max(case when fl.is_mood_play then fl.liveness end) as liveness,
        max(case when fl.is_mood_play then fl.tempo end) as tempo,
        max(case when fl.is_mood_play then fl.loudness end) as loudness
    from flagged as fl
    group by fl.user_id, fl.track_key
),

long_values as (
    select
        tp.user_id,
        fe.feature_no,
        tp.plays,
        case fe.feature_no
            when 1 then tp.danceability
            when 2 then tp.energy
            when 3 then tp.valence
            when 4 then tp.acousticness
            when 5 then tp.instrumentalness
            when 6 then tp.speechiness
            when 7 then tp.liveness
            when 8 then tp.tempo
            when 9 then tp.loudness
        end as value
    from track_plays as tp
    cross join features as fe
),

running as (
    select
        c.user_id,
        c.feature_no,
        c.value,
        c.plays,
        cast(sum(case when c.value is not null then c.plays else 0 end)
            over (partition by c.user_id, c.feature_no) as bigint) as n,
        cast(sum(case when c.value is not null then c.plays else 0 end) over (
            partition by c.user_id, c.feature_no
            order by c.value
            rows between unbounded preceding and current row
        ) as bigint) as running_plays,
        sum(c.plays * c.value) over (partition by c.user_id, c.feature_no) as value_sum
    from long_values as c
),

positioned as (
    select
        r.*,
        r.value_sum / nullif(r.n, 0) as mean_value,
        -- positions are exact in double (quarters of integers)
        1 + cast(r.n - 1 as double) / 4 as pos_25,
        1 + cast(r.n - 1 as double) / 2 as pos_50,
        1 + cast(3 * (r.n - 1) as double) / 4 as pos_75
    from running as r
),

aggregated as (
    select
        p.user_id,
        p.feature_no,
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
    group by p.user_id, p.feature_no
),

final as (
    select
        a.user_id,
        fe.feature,
        a.n_feature_plays,
        a.min_value,
        a.low_25 + a.frac_25 * (a.high_25 - a.low_25) as p25,
        a.low_50 + a.frac_50 * (a.high_50 - a.low_50) as median,
        a.low_75 + a.frac_75 * (a.high_75 - a.low_75) as p75,
        a.max_value,
        a.mean,
        a.std
    from aggregated as a
    inner join features as fe
        on a.feature_no = fe.feature_no
)

select * from final
