-- Distribution of each audio feature over a user's plays (skips and untrusted
-- features excluded): min, quartiles, max, mean, sample std.
-- Percentiles interpolate linearly between the two nearest ranks (the
-- definition of DuckDB quantile_cont and Spark percentile). They are computed
-- from play counts per user and track (audio features repeat per track), so
-- every engine gives the same numbers and memory stays bounded: the value at
-- rank r is the smallest value whose running count of plays reaches r (ties in
-- any order give the same value). Only the plays in the value buckets that
-- hold one of the six ranks are sorted: counts per bucket locate them, and a
-- bucket's running count starts at the plays of the buckets below it. A user
-- with no usable features gets a row per feature with n_feature_plays = 0 and
-- NULL stats.
with user_tracks as (
    select * from user_track_features
),

-- DuckDB materialises a CTE that is read more than once, so the user list
-- reads the tracks through its own import
user_tracks_for_users as (
    select * from user_track_features
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

-- features belong to the track: the usable plays per user and track (not
-- skipped, with trusted features) come from user_track_features
track_plays as (
    select
        t.user_id,
        t.track_key,
        t.n_plays - t.n_skips as plays,
        t.danceability,
        t.energy,
        t.valence,
        t.acousticness,
        t.instrumentalness,
        t.speechiness,
        t.liveness,
        t.tempo,
        t.loudness
    from user_tracks as t
    cross join params as p
    where t.valence is not null
        and t.n_plays > t.n_skips
        and (coalesce(t.feature_source, '') <> 'synthetic' or p.allow_synthetic)
),

music_users as (
    -- every user with music plays, with usable features or not
    select distinct t.user_id from user_tracks_for_users as t
),

user_stats as (
    -- per user and feature (wide): plays with the feature, mean, min, max
    select
        tp.user_id,
        sum(case when tp.danceability is not null then tp.plays end) as danceability_n,
        sum(tp.plays * tp.danceability) / sum(case when tp.danceability is not null then tp.plays end) as danceability_mean,
        min(tp.danceability) as danceability_min,
        max(tp.danceability) as danceability_max,
        sum(case when tp.energy is not null then tp.plays end) as energy_n,
        sum(tp.plays * tp.energy) / sum(case when tp.energy is not null then tp.plays end) as energy_mean,
        min(tp.energy) as energy_min,
        max(tp.energy) as energy_max,
        sum(case when tp.valence is not null then tp.plays end) as valence_n,
        sum(tp.plays * tp.valence) / sum(case when tp.valence is not null then tp.plays end) as valence_mean,
        min(tp.valence) as valence_min,
        max(tp.valence) as valence_max,
        sum(case when tp.acousticness is not null then tp.plays end) as acousticness_n,
        sum(tp.plays * tp.acousticness) / sum(case when tp.acousticness is not null then tp.plays end) as acousticness_mean,
        min(tp.acousticness) as acousticness_min,
        max(tp.acousticness) as acousticness_max,
        sum(case when tp.instrumentalness is not null then tp.plays end) as instrumentalness_n,
        sum(tp.plays * tp.instrumentalness) / sum(case when tp.instrumentalness is not null then tp.plays end) as instrumentalness_mean,
        min(tp.instrumentalness) as instrumentalness_min,
        max(tp.instrumentalness) as instrumentalness_max,
        sum(case when tp.speechiness is not null then tp.plays end) as speechiness_n,
        sum(tp.plays * tp.speechiness) / sum(case when tp.speechiness is not null then tp.plays end) as speechiness_mean,
        min(tp.speechiness) as speechiness_min,
        max(tp.speechiness) as speechiness_max,
        sum(case when tp.liveness is not null then tp.plays end) as liveness_n,
        sum(tp.plays * tp.liveness) / sum(case when tp.liveness is not null then tp.plays end) as liveness_mean,
        min(tp.liveness) as liveness_min,
        max(tp.liveness) as liveness_max,
        sum(case when tp.tempo is not null then tp.plays end) as tempo_n,
        sum(tp.plays * tp.tempo) / sum(case when tp.tempo is not null then tp.plays end) as tempo_mean,
        min(tp.tempo) as tempo_min,
        max(tp.tempo) as tempo_max,
        sum(case when tp.loudness is not null then tp.plays end) as loudness_n,
        sum(tp.plays * tp.loudness) / sum(case when tp.loudness is not null then tp.plays end) as loudness_mean,
        min(tp.loudness) as loudness_min,
        max(tp.loudness) as loudness_max
    from track_plays as tp
    group by tp.user_id
),

user_deviations as (
    -- per user and feature (wide): sum of squared deviations from the mean
    select
        tp.user_id,
        sum(tp.plays * (tp.danceability - m.danceability_mean) * (tp.danceability - m.danceability_mean)) as danceability_ss,
        sum(tp.plays * (tp.energy - m.energy_mean) * (tp.energy - m.energy_mean)) as energy_ss,
        sum(tp.plays * (tp.valence - m.valence_mean) * (tp.valence - m.valence_mean)) as valence_ss,
        sum(tp.plays * (tp.acousticness - m.acousticness_mean) * (tp.acousticness - m.acousticness_mean)) as acousticness_ss,
        sum(tp.plays * (tp.instrumentalness - m.instrumentalness_mean) * (tp.instrumentalness - m.instrumentalness_mean)) as instrumentalness_ss,
        sum(tp.plays * (tp.speechiness - m.speechiness_mean) * (tp.speechiness - m.speechiness_mean)) as speechiness_ss,
        sum(tp.plays * (tp.liveness - m.liveness_mean) * (tp.liveness - m.liveness_mean)) as liveness_ss,
        sum(tp.plays * (tp.tempo - m.tempo_mean) * (tp.tempo - m.tempo_mean)) as tempo_ss,
        sum(tp.plays * (tp.loudness - m.loudness_mean) * (tp.loudness - m.loudness_mean)) as loudness_ss
    from track_plays as tp
    inner join user_stats as m
        on tp.user_id = m.user_id
    group by tp.user_id
),

feature_stats as (
    -- one row per user and feature the user has
    select
        v.*
    from (
        select
            m.user_id,
            fe.feature_no,
            cast(
                case fe.feature_no
                    when 1 then m.danceability_n
                    when 2 then m.energy_n
                    when 3 then m.valence_n
                    when 4 then m.acousticness_n
                    when 5 then m.instrumentalness_n
                    when 6 then m.speechiness_n
                    when 7 then m.liveness_n
                    when 8 then m.tempo_n
                    when 9 then m.loudness_n
                end as bigint
            ) as n,
            case fe.feature_no
                when 1 then m.danceability_mean
                when 2 then m.energy_mean
                when 3 then m.valence_mean
                when 4 then m.acousticness_mean
                when 5 then m.instrumentalness_mean
                when 6 then m.speechiness_mean
                when 7 then m.liveness_mean
                when 8 then m.tempo_mean
                when 9 then m.loudness_mean
            end as mean,
            case fe.feature_no
                when 1 then m.danceability_min
                when 2 then m.energy_min
                when 3 then m.valence_min
                when 4 then m.acousticness_min
                when 5 then m.instrumentalness_min
                when 6 then m.speechiness_min
                when 7 then m.liveness_min
                when 8 then m.tempo_min
                when 9 then m.loudness_min
            end as min,
            case fe.feature_no
                when 1 then m.danceability_max
                when 2 then m.energy_max
                when 3 then m.valence_max
                when 4 then m.acousticness_max
                when 5 then m.instrumentalness_max
                when 6 then m.speechiness_max
                when 7 then m.liveness_max
                when 8 then m.tempo_max
                when 9 then m.loudness_max
            end as max,
            case fe.feature_no
                when 1 then d.danceability_ss
                when 2 then d.energy_ss
                when 3 then d.valence_ss
                when 4 then d.acousticness_ss
                when 5 then d.instrumentalness_ss
                when 6 then d.speechiness_ss
                when 7 then d.liveness_ss
                when 8 then d.tempo_ss
                when 9 then d.loudness_ss
            end as ss
        from user_stats as m
        inner join user_deviations as d
            on m.user_id = d.user_id
        cross join features as fe
    ) as v
    where v.n is not null
),

feature_totals as (
    -- positions of the quartiles and the six ranks they interpolate between
    -- (positions are exact in double: quarters of integers)
    select
        t.*,
        cast(floor(t.pos_25) as bigint) as low_rank_25,
        cast(ceil(t.pos_25) as bigint) as high_rank_25,
        cast(floor(t.pos_50) as bigint) as low_rank_50,
        cast(ceil(t.pos_50) as bigint) as high_rank_50,
        cast(floor(t.pos_75) as bigint) as low_rank_75,
        cast(ceil(t.pos_75) as bigint) as high_rank_75
    from (
        select
            c.*,
            1 + cast(c.n - 1 as double) / 4 as pos_25,
            1 + cast(c.n - 1 as double) / 2 as pos_50,
            1 + cast(3 * (c.n - 1) as double) / 4 as pos_75
        from feature_stats as c
    ) as t
),

long_values as (
    -- one row per user, feature and track with the feature, in a value bucket:
    -- 1/128 for the features in [0, 1], 2 BPM for tempo, 0.5 dB for loudness.
    -- A bucket number never decreases as the value grows (any value, in range
    -- or not; kept a double, so no value is too large for it), so a rank can
    -- be located bucket by bucket
    select
        v.*,
        floor(case v.feature_no when 8 then v.value / 2 when 9 then v.value * 2 else v.value * 128 end) as bucket
    from (
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
    ) as v
    where v.value is not null
),

bucket_ranks as (
    -- the ranks of the plays in each bucket: (plays_before, plays_before + plays]
    select
        c.user_id,
        c.feature_no,
        c.bucket,
        c.plays,
        sum(c.plays) over (
            partition by c.user_id, c.feature_no
            order by c.bucket
            rows between unbounded preceding and current row
        ) - c.plays as plays_before
    from (
        select
            v.user_id,
            v.feature_no,
            v.bucket,
            sum(v.plays) as plays
        from long_values as v
        group by v.user_id, v.feature_no, v.bucket
    ) as c
),

target_buckets as (
    -- the buckets holding one of the six ranks
    select
        r.user_id,
        r.feature_no,
        r.bucket,
        r.plays_before
    from bucket_ranks as r
    inner join feature_totals as t
        on r.user_id = t.user_id and r.feature_no = t.feature_no
    where (t.low_rank_25 > r.plays_before and t.low_rank_25 <= r.plays_before + r.plays)
        or (t.high_rank_25 > r.plays_before and t.high_rank_25 <= r.plays_before + r.plays)
        or (t.low_rank_50 > r.plays_before and t.low_rank_50 <= r.plays_before + r.plays)
        or (t.high_rank_50 > r.plays_before and t.high_rank_50 <= r.plays_before + r.plays)
        or (t.low_rank_75 > r.plays_before and t.low_rank_75 <= r.plays_before + r.plays)
        or (t.high_rank_75 > r.plays_before and t.high_rank_75 <= r.plays_before + r.plays)
),

running as (
    -- plays at or below each value of those buckets, in value order
    select
        v.user_id,
        v.feature_no,
        v.value,
        t.plays_before + sum(v.plays) over (
            partition by v.user_id, v.feature_no, v.bucket
            order by v.value
            rows between unbounded preceding and current row
        ) as running_plays
    from long_values as v
    inner join target_buckets as t
        on v.user_id = t.user_id and v.feature_no = t.feature_no and v.bucket = t.bucket
),

rank_values as (
    -- the value at rank r is the smallest value whose running count reaches r
    -- (ties in any order give the same value); it lies in r's bucket
    select
        r.user_id,
        r.feature_no,
        min(case when r.running_plays >= t.low_rank_25 then r.value end) as low_25,
        min(case when r.running_plays >= t.high_rank_25 then r.value end) as high_25,
        min(case when r.running_plays >= t.low_rank_50 then r.value end) as low_50,
        min(case when r.running_plays >= t.high_rank_50 then r.value end) as high_50,
        min(case when r.running_plays >= t.low_rank_75 then r.value end) as low_75,
        min(case when r.running_plays >= t.high_rank_75 then r.value end) as high_75
    from running as r
    inner join feature_totals as t
        on r.user_id = t.user_id and r.feature_no = t.feature_no
    group by r.user_id, r.feature_no
),

aggregated as (
    select
        t.user_id,
        t.feature_no,
        t.n as n_feature_plays,
        t.min as min_value,
        t.max as max_value,
        t.mean,
        sqrt(t.ss / nullif(t.n - 1, 0)) as std,
        t.pos_25 - floor(t.pos_25) as frac_25,
        t.pos_50 - floor(t.pos_50) as frac_50,
        t.pos_75 - floor(t.pos_75) as frac_75,
        q.low_25,
        q.high_25,
        q.low_50,
        q.high_50,
        q.low_75,
        q.high_75
    from feature_totals as t
    inner join rank_values as q
        on t.user_id = q.user_id and t.feature_no = q.feature_no
),

final as (
    select
        u.user_id,
        fe.feature,
        coalesce(a.n_feature_plays, cast(0 as bigint)) as n_feature_plays,
        a.min_value,
        a.low_25 + a.frac_25 * (a.high_25 - a.low_25) as p25,
        a.low_50 + a.frac_50 * (a.high_50 - a.low_50) as median,
        a.low_75 + a.frac_75 * (a.high_75 - a.low_75) as p75,
        a.max_value,
        a.mean,
        a.std
    from music_users as u
    cross join features as fe
    left join aggregated as a
        on u.user_id = a.user_id and fe.feature_no = a.feature_no
)

select * from final
