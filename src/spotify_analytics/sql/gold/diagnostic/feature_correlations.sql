-- Pearson and Spearman correlation of every pair of audio features, per user,
-- over the user's music plays that were not skipped and have all nine
-- features (complete cases). Spearman = Pearson of average ranks (ties share
-- the mean of their ranks). strength from |pearson_r| (spearman_strength from
-- |spearman_rho|): >= 0.7 strong, >= 0.4 moderate, >= 0.2 weak, else negligible.
-- Coefficients are NULL with fewer than 3 plays or a feature without spread.
-- A track's features repeat on each of its plays, so the plays are counted
-- per distinct feature tuple (weight w, from user_track_features) and
-- everything below runs on those tuples: the average rank of a value is (plays at or below it) -
-- (plays at it - 1) / 2, one sort per feature; the coefficients are
-- weighted central moments (means first, then sums of w * dx * dy), which is
-- what corr() over the plays computes. All 72 coefficients come from one pass
-- over the tuples, then are laid out one row per pair.
with user_tracks as (
    select * from user_track_features
),

params as (
    select * from run_params
),

tuples as (
    -- plays per user and distinct feature tuple: a track's features are its
    -- plays' features, so the plays that count (not skipped, trusted, all nine
    -- features) are each track's n_plays - n_skips
    select
        t.user_id,
        t.danceability,
        t.energy,
        t.loudness,
        t.speechiness,
        t.acousticness,
        t.instrumentalness,
        t.liveness,
        t.valence,
        t.tempo,
        sum(t.n_plays - t.n_skips) as w
    from user_tracks as t
    cross join params as p
    where t.n_plays > t.n_skips
        and (coalesce(t.feature_source, '') <> 'synthetic' or p.allow_synthetic)
        and t.danceability is not null
        and t.energy is not null
        and t.loudness is not null
        and t.speechiness is not null
        and t.acousticness is not null
        and t.instrumentalness is not null
        and t.liveness is not null
        and t.valence is not null
        and t.tempo is not null
    group by t.user_id, t.danceability, t.energy, t.loudness, t.speechiness, t.acousticness, t.instrumentalness, t.liveness, t.valence, t.tempo
),

ranked as (
    select
        t.*,
        sum(t.w) over (partition by t.user_id order by t.danceability)
            - (sum(t.w) over (
                partition by t.user_id order by t.danceability range between current row and current row
            ) - 1) / 2.0 as danceability_rank,
        sum(t.w) over (partition by t.user_id order by t.energy)
            - (sum(t.w) over (
                partition by t.user_id order by t.energy range between current row and current row
            ) - 1) / 2.0 as energy_rank,
        sum(t.w) over (partition by t.user_id order by t.loudness)
            - (sum(t.w) over (
                partition by t.user_id order by t.loudness range between current row and current row
            ) - 1) / 2.0 as loudness_rank,
        sum(t.w) over (partition by t.user_id order by t.speechiness)
            - (sum(t.w) over (
                partition by t.user_id order by t.speechiness range between current row and current row
            ) - 1) / 2.0 as speechiness_rank,
        sum(t.w) over (partition by t.user_id order by t.acousticness)
            - (sum(t.w) over (
                partition by t.user_id order by t.acousticness range between current row and current row
            ) - 1) / 2.0 as acousticness_rank,
        sum(t.w) over (partition by t.user_id order by t.instrumentalness)
            - (sum(t.w) over (
                partition by t.user_id order by t.instrumentalness range between current row and current row
            ) - 1) / 2.0 as instrumentalness_rank,
        sum(t.w) over (partition by t.user_id order by t.liveness)
            - (sum(t.w) over (
                partition by t.user_id order by t.liveness range between current row and current row
            ) - 1) / 2.0 as liveness_rank,
        sum(t.w) over (partition by t.user_id order by t.valence)
            - (sum(t.w) over (
                partition by t.user_id order by t.valence range between current row and current row
            ) - 1) / 2.0 as valence_rank,
        sum(t.w) over (partition by t.user_id order by t.tempo)
            - (sum(t.w) over (
                partition by t.user_id order by t.tempo range between current row and current row
            ) - 1) / 2.0 as tempo_rank
    from tuples as t
),

means as (
    select
        r.user_id,
        cast(sum(r.w) as bigint) as n_feature_plays,
        sum(r.w * r.danceability) / sum(r.w) as danceability_mean,
        sum(r.w * r.energy) / sum(r.w) as energy_mean,
        sum(r.w * r.loudness) / sum(r.w) as loudness_mean,
        sum(r.w * r.speechiness) / sum(r.w) as speechiness_mean,
        sum(r.w * r.acousticness) / sum(r.w) as acousticness_mean,
        sum(r.w * r.instrumentalness) / sum(r.w) as instrumentalness_mean,
        sum(r.w * r.liveness) / sum(r.w) as liveness_mean,
        sum(r.w * r.valence) / sum(r.w) as valence_mean,
        sum(r.w * r.tempo) / sum(r.w) as tempo_mean,
        sum(r.w * r.danceability_rank) / sum(r.w) as danceability_rank_mean,
        sum(r.w * r.energy_rank) / sum(r.w) as energy_rank_mean,
        sum(r.w * r.loudness_rank) / sum(r.w) as loudness_rank_mean,
        sum(r.w * r.speechiness_rank) / sum(r.w) as speechiness_rank_mean,
        sum(r.w * r.acousticness_rank) / sum(r.w) as acousticness_rank_mean,
        sum(r.w * r.instrumentalness_rank) / sum(r.w) as instrumentalness_rank_mean,
        sum(r.w * r.liveness_rank) / sum(r.w) as liveness_rank_mean,
        sum(r.w * r.valence_rank) / sum(r.w) as valence_rank_mean,
        sum(r.w * r.tempo_rank) / sum(r.w) as tempo_rank_mean
    from ranked as r
    group by r.user_id
),

centered as (
    select
        r.user_id,
        r.w,
        r.danceability - m.danceability_mean as danceability_d,
        r.energy - m.energy_mean as energy_d,
        r.loudness - m.loudness_mean as loudness_d,
        r.speechiness - m.speechiness_mean as speechiness_d,
        r.acousticness - m.acousticness_mean as acousticness_d,
        r.instrumentalness - m.instrumentalness_mean as instrumentalness_d,
        r.liveness - m.liveness_mean as liveness_d,
        r.valence - m.valence_mean as valence_d,
        r.tempo - m.tempo_mean as tempo_d,
        r.danceability_rank - m.danceability_rank_mean as danceability_rank_d,
        r.energy_rank - m.energy_rank_mean as energy_rank_d,
        r.loudness_rank - m.loudness_rank_mean as loudness_rank_d,
        r.speechiness_rank - m.speechiness_rank_mean as speechiness_rank_d,
        r.acousticness_rank - m.acousticness_rank_mean as acousticness_rank_d,
        r.instrumentalness_rank - m.instrumentalness_rank_mean as instrumentalness_rank_d,
        r.liveness_rank - m.liveness_rank_mean as liveness_rank_d,
        r.valence_rank - m.valence_rank_mean as valence_rank_d,
        r.tempo_rank - m.tempo_rank_mean as tempo_rank_d
    from ranked as r
    inner join means as m
        on r.user_id = m.user_id
),

sums as (
    select
        c.user_id,
        sum(c.w * c.danceability_d * c.danceability_d) as danceability_ss,
        sum(c.w * c.danceability_rank_d * c.danceability_rank_d) as danceability_rank_ss,
        sum(c.w * c.energy_d * c.energy_d) as energy_ss,
        sum(c.w * c.energy_rank_d * c.energy_rank_d) as energy_rank_ss,
        sum(c.w * c.loudness_d * c.loudness_d) as loudness_ss,
        sum(c.w * c.loudness_rank_d * c.loudness_rank_d) as loudness_rank_ss,
        sum(c.w * c.speechiness_d * c.speechiness_d) as speechiness_ss,
        sum(c.w * c.speechiness_rank_d * c.speechiness_rank_d) as speechiness_rank_ss,
        sum(c.w * c.acousticness_d * c.acousticness_d) as acousticness_ss,
        sum(c.w * c.acousticness_rank_d * c.acousticness_rank_d) as acousticness_rank_ss,
        sum(c.w * c.instrumentalness_d * c.instrumentalness_d) as instrumentalness_ss,
        sum(c.w * c.instrumentalness_rank_d * c.instrumentalness_rank_d) as instrumentalness_rank_ss,
        sum(c.w * c.liveness_d * c.liveness_d) as liveness_ss,
        sum(c.w * c.liveness_rank_d * c.liveness_rank_d) as liveness_rank_ss,
        sum(c.w * c.valence_d * c.valence_d) as valence_ss,
        sum(c.w * c.valence_rank_d * c.valence_rank_d) as valence_rank_ss,
        sum(c.w * c.tempo_d * c.tempo_d) as tempo_ss,
        sum(c.w * c.tempo_rank_d * c.tempo_rank_d) as tempo_rank_ss,
        sum(c.w * c.danceability_d * c.energy_d) as danceability__energy_sp,
        sum(c.w * c.danceability_d * c.loudness_d) as danceability__loudness_sp,
        sum(c.w * c.danceability_d * c.speechiness_d) as danceability__speechiness_sp,
        sum(c.w * c.danceability_d * c.acousticness_d) as danceability__acousticness_sp,
        sum(c.w * c.danceability_d * c.instrumentalness_d) as danceability__instrumentalness_sp,
        sum(c.w * c.danceability_d * c.liveness_d) as danceability__liveness_sp,
        sum(c.w * c.danceability_d * c.valence_d) as danceability__valence_sp,
        sum(c.w * c.danceability_d * c.tempo_d) as danceability__tempo_sp,
        sum(c.w * c.energy_d * c.loudness_d) as energy__loudness_sp,
        sum(c.w * c.energy_d * c.speechiness_d) as energy__speechiness_sp,
        sum(c.w * c.energy_d * c.acousticness_d) as energy__acousticness_sp,
        sum(c.w * c.energy_d * c.instrumentalness_d) as energy__instrumentalness_sp,
        sum(c.w * c.energy_d * c.liveness_d) as energy__liveness_sp,
        sum(c.w * c.energy_d * c.valence_d) as energy__valence_sp,
        sum(c.w * c.energy_d * c.tempo_d) as energy__tempo_sp,
        sum(c.w * c.loudness_d * c.speechiness_d) as loudness__speechiness_sp,
        sum(c.w * c.loudness_d * c.acousticness_d) as loudness__acousticness_sp,
        sum(c.w * c.loudness_d * c.instrumentalness_d) as loudness__instrumentalness_sp,
        sum(c.w * c.loudness_d * c.liveness_d) as loudness__liveness_sp,
        sum(c.w * c.loudness_d * c.valence_d) as loudness__valence_sp,
        sum(c.w * c.loudness_d * c.tempo_d) as loudness__tempo_sp,
        sum(c.w * c.speechiness_d * c.acousticness_d) as speechiness__acousticness_sp,
        sum(c.w * c.speechiness_d * c.instrumentalness_d) as speechiness__instrumentalness_sp,
        sum(c.w * c.speechiness_d * c.liveness_d) as speechiness__liveness_sp,
        sum(c.w * c.speechiness_d * c.valence_d) as speechiness__valence_sp,
        sum(c.w * c.speechiness_d * c.tempo_d) as speechiness__tempo_sp,
        sum(c.w * c.acousticness_d * c.instrumentalness_d) as acousticness__instrumentalness_sp,
        sum(c.w * c.acousticness_d * c.liveness_d) as acousticness__liveness_sp,
        sum(c.w * c.acousticness_d * c.valence_d) as acousticness__valence_sp,
        sum(c.w * c.acousticness_d * c.tempo_d) as acousticness__tempo_sp,
        sum(c.w * c.instrumentalness_d * c.liveness_d) as instrumentalness__liveness_sp,
        sum(c.w * c.instrumentalness_d * c.valence_d) as instrumentalness__valence_sp,
        sum(c.w * c.instrumentalness_d * c.tempo_d) as instrumentalness__tempo_sp,
        sum(c.w * c.liveness_d * c.valence_d) as liveness__valence_sp,
        sum(c.w * c.liveness_d * c.tempo_d) as liveness__tempo_sp,
        sum(c.w * c.valence_d * c.tempo_d) as valence__tempo_sp,
        sum(c.w * c.danceability_rank_d * c.energy_rank_d) as danceability__energy_rank_sp,
        sum(c.w * c.danceability_rank_d * c.loudness_rank_d) as danceability__loudness_rank_sp,
        sum(c.w * c.danceability_rank_d * c.speechiness_rank_d) as danceability__speechiness_rank_sp,
        sum(c.w * c.danceability_rank_d * c.acousticness_rank_d) as danceability__acousticness_rank_sp,
        sum(c.w * c.danceability_rank_d * c.instrumentalness_rank_d) as danceability__instrumentalness_rank_sp,
        sum(c.w * c.danceability_rank_d * c.liveness_rank_d) as danceability__liveness_rank_sp,
        sum(c.w * c.danceability_rank_d * c.valence_rank_d) as danceability__valence_rank_sp,
        sum(c.w * c.danceability_rank_d * c.tempo_rank_d) as danceability__tempo_rank_sp,
        sum(c.w * c.energy_rank_d * c.loudness_rank_d) as energy__loudness_rank_sp,
        sum(c.w * c.energy_rank_d * c.speechiness_rank_d) as energy__speechiness_rank_sp,
        sum(c.w * c.energy_rank_d * c.acousticness_rank_d) as energy__acousticness_rank_sp,
        sum(c.w * c.energy_rank_d * c.instrumentalness_rank_d) as energy__instrumentalness_rank_sp,
        sum(c.w * c.energy_rank_d * c.liveness_rank_d) as energy__liveness_rank_sp,
        sum(c.w * c.energy_rank_d * c.valence_rank_d) as energy__valence_rank_sp,
        sum(c.w * c.energy_rank_d * c.tempo_rank_d) as energy__tempo_rank_sp,
        sum(c.w * c.loudness_rank_d * c.speechiness_rank_d) as loudness__speechiness_rank_sp,
        sum(c.w * c.loudness_rank_d * c.acousticness_rank_d) as loudness__acousticness_rank_sp,
        sum(c.w * c.loudness_rank_d * c.instrumentalness_rank_d) as loudness__instrumentalness_rank_sp,
        sum(c.w * c.loudness_rank_d * c.liveness_rank_d) as loudness__liveness_rank_sp,
        sum(c.w * c.loudness_rank_d * c.valence_rank_d) as loudness__valence_rank_sp,
        sum(c.w * c.loudness_rank_d * c.tempo_rank_d) as loudness__tempo_rank_sp,
        sum(c.w * c.speechiness_rank_d * c.acousticness_rank_d) as speechiness__acousticness_rank_sp,
        sum(c.w * c.speechiness_rank_d * c.instrumentalness_rank_d) as speechiness__instrumentalness_rank_sp,
        sum(c.w * c.speechiness_rank_d * c.liveness_rank_d) as speechiness__liveness_rank_sp,
        sum(c.w * c.speechiness_rank_d * c.valence_rank_d) as speechiness__valence_rank_sp,
        sum(c.w * c.speechiness_rank_d * c.tempo_rank_d) as speechiness__tempo_rank_sp,
        sum(c.w * c.acousticness_rank_d * c.instrumentalness_rank_d) as acousticness__instrumentalness_rank_sp,
        sum(c.w * c.acousticness_rank_d * c.liveness_rank_d) as acousticness__liveness_rank_sp,
        sum(c.w * c.acousticness_rank_d * c.valence_rank_d) as acousticness__valence_rank_sp,
        sum(c.w * c.acousticness_rank_d * c.tempo_rank_d) as acousticness__tempo_rank_sp,
        sum(c.w * c.instrumentalness_rank_d * c.liveness_rank_d) as instrumentalness__liveness_rank_sp,
        sum(c.w * c.instrumentalness_rank_d * c.valence_rank_d) as instrumentalness__valence_rank_sp,
        sum(c.w * c.instrumentalness_rank_d * c.tempo_rank_d) as instrumentalness__tempo_rank_sp,
        sum(c.w * c.liveness_rank_d * c.valence_rank_d) as liveness__valence_rank_sp,
        sum(c.w * c.liveness_rank_d * c.tempo_rank_d) as liveness__tempo_rank_sp,
        sum(c.w * c.valence_rank_d * c.tempo_rank_d) as valence__tempo_rank_sp
    from centered as c
    group by c.user_id
),

moments as (
    select
        m.user_id,
        m.n_feature_plays,
        sqrt(s.danceability_ss / m.n_feature_plays) as danceability_sd,
        sqrt(s.danceability_rank_ss / m.n_feature_plays) as danceability_rank_sd,
        sqrt(s.energy_ss / m.n_feature_plays) as energy_sd,
        sqrt(s.energy_rank_ss / m.n_feature_plays) as energy_rank_sd,
        sqrt(s.loudness_ss / m.n_feature_plays) as loudness_sd,
        sqrt(s.loudness_rank_ss / m.n_feature_plays) as loudness_rank_sd,
        sqrt(s.speechiness_ss / m.n_feature_plays) as speechiness_sd,
        sqrt(s.speechiness_rank_ss / m.n_feature_plays) as speechiness_rank_sd,
        sqrt(s.acousticness_ss / m.n_feature_plays) as acousticness_sd,
        sqrt(s.acousticness_rank_ss / m.n_feature_plays) as acousticness_rank_sd,
        sqrt(s.instrumentalness_ss / m.n_feature_plays) as instrumentalness_sd,
        sqrt(s.instrumentalness_rank_ss / m.n_feature_plays) as instrumentalness_rank_sd,
        sqrt(s.liveness_ss / m.n_feature_plays) as liveness_sd,
        sqrt(s.liveness_rank_ss / m.n_feature_plays) as liveness_rank_sd,
        sqrt(s.valence_ss / m.n_feature_plays) as valence_sd,
        sqrt(s.valence_rank_ss / m.n_feature_plays) as valence_rank_sd,
        sqrt(s.tempo_ss / m.n_feature_plays) as tempo_sd,
        sqrt(s.tempo_rank_ss / m.n_feature_plays) as tempo_rank_sd,
        s.danceability__energy_sp / sqrt(s.danceability_ss * s.energy_ss) as pearson_danceability__energy,
        s.danceability__loudness_sp / sqrt(s.danceability_ss * s.loudness_ss) as pearson_danceability__loudness,
        s.danceability__speechiness_sp / sqrt(s.danceability_ss * s.speechiness_ss) as pearson_danceability__speechiness,
        s.danceability__acousticness_sp / sqrt(s.danceability_ss * s.acousticness_ss) as pearson_danceability__acousticness,
        s.danceability__instrumentalness_sp / sqrt(s.danceability_ss * s.instrumentalness_ss) as pearson_danceability__instrumentalness,
        s.danceability__liveness_sp / sqrt(s.danceability_ss * s.liveness_ss) as pearson_danceability__liveness,
        s.danceability__valence_sp / sqrt(s.danceability_ss * s.valence_ss) as pearson_danceability__valence,
        s.danceability__tempo_sp / sqrt(s.danceability_ss * s.tempo_ss) as pearson_danceability__tempo,
        s.energy__loudness_sp / sqrt(s.energy_ss * s.loudness_ss) as pearson_energy__loudness,
        s.energy__speechiness_sp / sqrt(s.energy_ss * s.speechiness_ss) as pearson_energy__speechiness,
        s.energy__acousticness_sp / sqrt(s.energy_ss * s.acousticness_ss) as pearson_energy__acousticness,
        s.energy__instrumentalness_sp / sqrt(s.energy_ss * s.instrumentalness_ss) as pearson_energy__instrumentalness,
        s.energy__liveness_sp / sqrt(s.energy_ss * s.liveness_ss) as pearson_energy__liveness,
        s.energy__valence_sp / sqrt(s.energy_ss * s.valence_ss) as pearson_energy__valence,
        s.energy__tempo_sp / sqrt(s.energy_ss * s.tempo_ss) as pearson_energy__tempo,
        s.loudness__speechiness_sp / sqrt(s.loudness_ss * s.speechiness_ss) as pearson_loudness__speechiness,
        s.loudness__acousticness_sp / sqrt(s.loudness_ss * s.acousticness_ss) as pearson_loudness__acousticness,
        s.loudness__instrumentalness_sp / sqrt(s.loudness_ss * s.instrumentalness_ss) as pearson_loudness__instrumentalness,
        s.loudness__liveness_sp / sqrt(s.loudness_ss * s.liveness_ss) as pearson_loudness__liveness,
        s.loudness__valence_sp / sqrt(s.loudness_ss * s.valence_ss) as pearson_loudness__valence,
        s.loudness__tempo_sp / sqrt(s.loudness_ss * s.tempo_ss) as pearson_loudness__tempo,
        s.speechiness__acousticness_sp / sqrt(s.speechiness_ss * s.acousticness_ss) as pearson_speechiness__acousticness,
        s.speechiness__instrumentalness_sp / sqrt(s.speechiness_ss * s.instrumentalness_ss) as pearson_speechiness__instrumentalness,
        s.speechiness__liveness_sp / sqrt(s.speechiness_ss * s.liveness_ss) as pearson_speechiness__liveness,
        s.speechiness__valence_sp / sqrt(s.speechiness_ss * s.valence_ss) as pearson_speechiness__valence,
        s.speechiness__tempo_sp / sqrt(s.speechiness_ss * s.tempo_ss) as pearson_speechiness__tempo,
        s.acousticness__instrumentalness_sp / sqrt(s.acousticness_ss * s.instrumentalness_ss) as pearson_acousticness__instrumentalness,
        s.acousticness__liveness_sp / sqrt(s.acousticness_ss * s.liveness_ss) as pearson_acousticness__liveness,
        s.acousticness__valence_sp / sqrt(s.acousticness_ss * s.valence_ss) as pearson_acousticness__valence,
        s.acousticness__tempo_sp / sqrt(s.acousticness_ss * s.tempo_ss) as pearson_acousticness__tempo,
        s.instrumentalness__liveness_sp / sqrt(s.instrumentalness_ss * s.liveness_ss) as pearson_instrumentalness__liveness,
        s.instrumentalness__valence_sp / sqrt(s.instrumentalness_ss * s.valence_ss) as pearson_instrumentalness__valence,
        s.instrumentalness__tempo_sp / sqrt(s.instrumentalness_ss * s.tempo_ss) as pearson_instrumentalness__tempo,
        s.liveness__valence_sp / sqrt(s.liveness_ss * s.valence_ss) as pearson_liveness__valence,
        s.liveness__tempo_sp / sqrt(s.liveness_ss * s.tempo_ss) as pearson_liveness__tempo,
        s.valence__tempo_sp / sqrt(s.valence_ss * s.tempo_ss) as pearson_valence__tempo,
        s.danceability__energy_rank_sp / sqrt(s.danceability_rank_ss * s.energy_rank_ss) as spearman_danceability__energy,
        s.danceability__loudness_rank_sp / sqrt(s.danceability_rank_ss * s.loudness_rank_ss) as spearman_danceability__loudness,
        s.danceability__speechiness_rank_sp / sqrt(s.danceability_rank_ss * s.speechiness_rank_ss) as spearman_danceability__speechiness,
        s.danceability__acousticness_rank_sp / sqrt(s.danceability_rank_ss * s.acousticness_rank_ss) as spearman_danceability__acousticness,
        s.danceability__instrumentalness_rank_sp / sqrt(s.danceability_rank_ss * s.instrumentalness_rank_ss) as spearman_danceability__instrumentalness,
        s.danceability__liveness_rank_sp / sqrt(s.danceability_rank_ss * s.liveness_rank_ss) as spearman_danceability__liveness,
        s.danceability__valence_rank_sp / sqrt(s.danceability_rank_ss * s.valence_rank_ss) as spearman_danceability__valence,
        s.danceability__tempo_rank_sp / sqrt(s.danceability_rank_ss * s.tempo_rank_ss) as spearman_danceability__tempo,
        s.energy__loudness_rank_sp / sqrt(s.energy_rank_ss * s.loudness_rank_ss) as spearman_energy__loudness,
        s.energy__speechiness_rank_sp / sqrt(s.energy_rank_ss * s.speechiness_rank_ss) as spearman_energy__speechiness,
        s.energy__acousticness_rank_sp / sqrt(s.energy_rank_ss * s.acousticness_rank_ss) as spearman_energy__acousticness,
        s.energy__instrumentalness_rank_sp / sqrt(s.energy_rank_ss * s.instrumentalness_rank_ss) as spearman_energy__instrumentalness,
        s.energy__liveness_rank_sp / sqrt(s.energy_rank_ss * s.liveness_rank_ss) as spearman_energy__liveness,
        s.energy__valence_rank_sp / sqrt(s.energy_rank_ss * s.valence_rank_ss) as spearman_energy__valence,
        s.energy__tempo_rank_sp / sqrt(s.energy_rank_ss * s.tempo_rank_ss) as spearman_energy__tempo,
        s.loudness__speechiness_rank_sp / sqrt(s.loudness_rank_ss * s.speechiness_rank_ss) as spearman_loudness__speechiness,
        s.loudness__acousticness_rank_sp / sqrt(s.loudness_rank_ss * s.acousticness_rank_ss) as spearman_loudness__acousticness,
        s.loudness__instrumentalness_rank_sp / sqrt(s.loudness_rank_ss * s.instrumentalness_rank_ss) as spearman_loudness__instrumentalness,
        s.loudness__liveness_rank_sp / sqrt(s.loudness_rank_ss * s.liveness_rank_ss) as spearman_loudness__liveness,
        s.loudness__valence_rank_sp / sqrt(s.loudness_rank_ss * s.valence_rank_ss) as spearman_loudness__valence,
        s.loudness__tempo_rank_sp / sqrt(s.loudness_rank_ss * s.tempo_rank_ss) as spearman_loudness__tempo,
        s.speechiness__acousticness_rank_sp / sqrt(s.speechiness_rank_ss * s.acousticness_rank_ss) as spearman_speechiness__acousticness,
        s.speechiness__instrumentalness_rank_sp / sqrt(s.speechiness_rank_ss * s.instrumentalness_rank_ss) as spearman_speechiness__instrumentalness,
        s.speechiness__liveness_rank_sp / sqrt(s.speechiness_rank_ss * s.liveness_rank_ss) as spearman_speechiness__liveness,
        s.speechiness__valence_rank_sp / sqrt(s.speechiness_rank_ss * s.valence_rank_ss) as spearman_speechiness__valence,
        s.speechiness__tempo_rank_sp / sqrt(s.speechiness_rank_ss * s.tempo_rank_ss) as spearman_speechiness__tempo,
        s.acousticness__instrumentalness_rank_sp / sqrt(s.acousticness_rank_ss * s.instrumentalness_rank_ss) as spearman_acousticness__instrumentalness,
        s.acousticness__liveness_rank_sp / sqrt(s.acousticness_rank_ss * s.liveness_rank_ss) as spearman_acousticness__liveness,
        s.acousticness__valence_rank_sp / sqrt(s.acousticness_rank_ss * s.valence_rank_ss) as spearman_acousticness__valence,
        s.acousticness__tempo_rank_sp / sqrt(s.acousticness_rank_ss * s.tempo_rank_ss) as spearman_acousticness__tempo,
        s.instrumentalness__liveness_rank_sp / sqrt(s.instrumentalness_rank_ss * s.liveness_rank_ss) as spearman_instrumentalness__liveness,
        s.instrumentalness__valence_rank_sp / sqrt(s.instrumentalness_rank_ss * s.valence_rank_ss) as spearman_instrumentalness__valence,
        s.instrumentalness__tempo_rank_sp / sqrt(s.instrumentalness_rank_ss * s.tempo_rank_ss) as spearman_instrumentalness__tempo,
        s.liveness__valence_rank_sp / sqrt(s.liveness_rank_ss * s.valence_rank_ss) as spearman_liveness__valence,
        s.liveness__tempo_rank_sp / sqrt(s.liveness_rank_ss * s.tempo_rank_ss) as spearman_liveness__tempo,
        s.valence__tempo_rank_sp / sqrt(s.valence_rank_ss * s.tempo_rank_ss) as spearman_valence__tempo
    from means as m
    inner join sums as s
        on m.user_id = s.user_id
),

feature_pairs as (
    select * from (values
        ('danceability', 'energy'),
        ('danceability', 'loudness'),
        ('danceability', 'speechiness'),
        ('danceability', 'acousticness'),
        ('danceability', 'instrumentalness'),
        ('danceability', 'liveness'),
        ('danceability', 'valence'),
        ('danceability', 'tempo'),
        ('energy', 'loudness'),
        ('energy', 'speechiness'),
        ('energy', 'acousticness'),
        ('energy', 'instrumentalness'),
        ('energy', 'liveness'),
        ('energy', 'valence'),
        ('energy', 'tempo'),
        ('loudness', 'speechiness'),
        ('loudness', 'acousticness'),
        ('loudness', 'instrumentalness'),
        ('loudness', 'liveness'),
        ('loudness', 'valence'),
        ('loudness', 'tempo'),
        ('speechiness', 'acousticness'),
        ('speechiness', 'instrumentalness'),
        ('speechiness', 'liveness'),
        ('speechiness', 'valence'),
        ('speechiness', 'tempo'),
        ('acousticness', 'instrumentalness'),
        ('acousticness', 'liveness'),
        ('acousticness', 'valence'),
        ('acousticness', 'tempo'),
        ('instrumentalness', 'liveness'),
        ('instrumentalness', 'valence'),
        ('instrumentalness', 'tempo'),
        ('liveness', 'valence'),
        ('liveness', 'tempo'),
        ('valence', 'tempo')
    ) as feature_pairs (feature_x, feature_y)
),

paired as (
    select
        m.user_id,
        p.feature_x,
        p.feature_y,
        m.n_feature_plays,
        case p.feature_x
            when 'danceability' then m.danceability_sd
            when 'energy' then m.energy_sd
            when 'loudness' then m.loudness_sd
            when 'speechiness' then m.speechiness_sd
            when 'acousticness' then m.acousticness_sd
            when 'instrumentalness' then m.instrumentalness_sd
            when 'liveness' then m.liveness_sd
            when 'valence' then m.valence_sd
            when 'tempo' then m.tempo_sd
        end as sd_x,
        case p.feature_y
            when 'danceability' then m.danceability_sd
            when 'energy' then m.energy_sd
            when 'loudness' then m.loudness_sd
            when 'speechiness' then m.speechiness_sd
            when 'acousticness' then m.acousticness_sd
            when 'instrumentalness' then m.instrumentalness_sd
            when 'liveness' then m.liveness_sd
            when 'valence' then m.valence_sd
            when 'tempo' then m.tempo_sd
        end as sd_y,
        case p.feature_x
            when 'danceability' then m.danceability_rank_sd
            when 'energy' then m.energy_rank_sd
            when 'loudness' then m.loudness_rank_sd
            when 'speechiness' then m.speechiness_rank_sd
            when 'acousticness' then m.acousticness_rank_sd
            when 'instrumentalness' then m.instrumentalness_rank_sd
            when 'liveness' then m.liveness_rank_sd
            when 'valence' then m.valence_rank_sd
            when 'tempo' then m.tempo_rank_sd
        end as sd_x_rank,
        case p.feature_y
            when 'danceability' then m.danceability_rank_sd
            when 'energy' then m.energy_rank_sd
            when 'loudness' then m.loudness_rank_sd
            when 'speechiness' then m.speechiness_rank_sd
            when 'acousticness' then m.acousticness_rank_sd
            when 'instrumentalness' then m.instrumentalness_rank_sd
            when 'liveness' then m.liveness_rank_sd
            when 'valence' then m.valence_rank_sd
            when 'tempo' then m.tempo_rank_sd
        end as sd_y_rank,
        case p.feature_x || '__' || p.feature_y
            when 'danceability__energy' then m.pearson_danceability__energy
            when 'danceability__loudness' then m.pearson_danceability__loudness
            when 'danceability__speechiness' then m.pearson_danceability__speechiness
            when 'danceability__acousticness' then m.pearson_danceability__acousticness
            when 'danceability__instrumentalness' then m.pearson_danceability__instrumentalness
            when 'danceability__liveness' then m.pearson_danceability__liveness
            when 'danceability__valence' then m.pearson_danceability__valence
            when 'danceability__tempo' then m.pearson_danceability__tempo
            when 'energy__loudness' then m.pearson_energy__loudness
            when 'energy__speechiness' then m.pearson_energy__speechiness
            when 'energy__acousticness' then m.pearson_energy__acousticness
            when 'energy__instrumentalness' then m.pearson_energy__instrumentalness
            when 'energy__liveness' then m.pearson_energy__liveness
            when 'energy__valence' then m.pearson_energy__valence
            when 'energy__tempo' then m.pearson_energy__tempo
            when 'loudness__speechiness' then m.pearson_loudness__speechiness
            when 'loudness__acousticness' then m.pearson_loudness__acousticness
            when 'loudness__instrumentalness' then m.pearson_loudness__instrumentalness
            when 'loudness__liveness' then m.pearson_loudness__liveness
            when 'loudness__valence' then m.pearson_loudness__valence
            when 'loudness__tempo' then m.pearson_loudness__tempo
            when 'speechiness__acousticness' then m.pearson_speechiness__acousticness
            when 'speechiness__instrumentalness' then m.pearson_speechiness__instrumentalness
            when 'speechiness__liveness' then m.pearson_speechiness__liveness
            when 'speechiness__valence' then m.pearson_speechiness__valence
            when 'speechiness__tempo' then m.pearson_speechiness__tempo
            when 'acousticness__instrumentalness' then m.pearson_acousticness__instrumentalness
            when 'acousticness__liveness' then m.pearson_acousticness__liveness
            when 'acousticness__valence' then m.pearson_acousticness__valence
            when 'acousticness__tempo' then m.pearson_acousticness__tempo
            when 'instrumentalness__liveness' then m.pearson_instrumentalness__liveness
            when 'instrumentalness__valence' then m.pearson_instrumentalness__valence
            when 'instrumentalness__tempo' then m.pearson_instrumentalness__tempo
            when 'liveness__valence' then m.pearson_liveness__valence
            when 'liveness__tempo' then m.pearson_liveness__tempo
            when 'valence__tempo' then m.pearson_valence__tempo
        end as pearson_raw,
        case p.feature_x || '__' || p.feature_y
            when 'danceability__energy' then m.spearman_danceability__energy
            when 'danceability__loudness' then m.spearman_danceability__loudness
            when 'danceability__speechiness' then m.spearman_danceability__speechiness
            when 'danceability__acousticness' then m.spearman_danceability__acousticness
            when 'danceability__instrumentalness' then m.spearman_danceability__instrumentalness
            when 'danceability__liveness' then m.spearman_danceability__liveness
            when 'danceability__valence' then m.spearman_danceability__valence
            when 'danceability__tempo' then m.spearman_danceability__tempo
            when 'energy__loudness' then m.spearman_energy__loudness
            when 'energy__speechiness' then m.spearman_energy__speechiness
            when 'energy__acousticness' then m.spearman_energy__acousticness
            when 'energy__instrumentalness' then m.spearman_energy__instrumentalness
            when 'energy__liveness' then m.spearman_energy__liveness
            when 'energy__valence' then m.spearman_energy__valence
            when 'energy__tempo' then m.spearman_energy__tempo
            when 'loudness__speechiness' then m.spearman_loudness__speechiness
            when 'loudness__acousticness' then m.spearman_loudness__acousticness
            when 'loudness__instrumentalness' then m.spearman_loudness__instrumentalness
            when 'loudness__liveness' then m.spearman_loudness__liveness
            when 'loudness__valence' then m.spearman_loudness__valence
            when 'loudness__tempo' then m.spearman_loudness__tempo
            when 'speechiness__acousticness' then m.spearman_speechiness__acousticness
            when 'speechiness__instrumentalness' then m.spearman_speechiness__instrumentalness
            when 'speechiness__liveness' then m.spearman_speechiness__liveness
            when 'speechiness__valence' then m.spearman_speechiness__valence
            when 'speechiness__tempo' then m.spearman_speechiness__tempo
            when 'acousticness__instrumentalness' then m.spearman_acousticness__instrumentalness
            when 'acousticness__liveness' then m.spearman_acousticness__liveness
            when 'acousticness__valence' then m.spearman_acousticness__valence
            when 'acousticness__tempo' then m.spearman_acousticness__tempo
            when 'instrumentalness__liveness' then m.spearman_instrumentalness__liveness
            when 'instrumentalness__valence' then m.spearman_instrumentalness__valence
            when 'instrumentalness__tempo' then m.spearman_instrumentalness__tempo
            when 'liveness__valence' then m.spearman_liveness__valence
            when 'liveness__tempo' then m.spearman_liveness__tempo
            when 'valence__tempo' then m.spearman_valence__tempo
        end as spearman_raw
    from moments as m
    cross join feature_pairs as p
),

coefficients as (
    select
        m.user_id,
        m.feature_x,
        m.feature_y,
        m.n_feature_plays,
        case when m.n_feature_plays >= 3 and m.sd_x > 1e-9 and m.sd_y > 1e-9
            then greatest(-1.0, least(1.0, m.pearson_raw)) end as pearson_r,
        case when m.n_feature_plays >= 3 and m.sd_x_rank > 1e-9 and m.sd_y_rank > 1e-9
            then greatest(-1.0, least(1.0, m.spearman_raw)) end as spearman_rho
    from paired as m
),

final as (
    select
        c.user_id,
        c.feature_x,
        c.feature_y,
        c.n_feature_plays,
        c.pearson_r,
        c.spearman_rho,
        case
            when c.pearson_r is null then null
            when abs(c.pearson_r) >= 0.7 then 'strong'
            when abs(c.pearson_r) >= 0.4 then 'moderate'
            when abs(c.pearson_r) >= 0.2 then 'weak'
            else 'negligible'
        end as strength,
        case
            when c.spearman_rho is null then null
            when abs(c.spearman_rho) >= 0.7 then 'strong'
            when abs(c.spearman_rho) >= 0.4 then 'moderate'
            when abs(c.spearman_rho) >= 0.2 then 'weak'
            else 'negligible'
        end as spearman_strength,
        case
            when c.pearson_r > 0 then 'positive'
            when c.pearson_r < 0 then 'negative'
            when c.pearson_r = 0 then 'none'
        end as direction
    from coefficients as c
)

select * from final
