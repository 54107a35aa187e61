-- Pearson and Spearman correlation of every pair of audio features, per user,
-- over the user's music plays that were not skipped and have all nine
-- features (complete cases). Spearman = Pearson of average ranks (ties share
-- the mean of their ranks). strength from |pearson_r| (spearman_strength from
-- |spearman_rho|): >= 0.7 strong, >= 0.4 moderate, >= 0.2 weak, else negligible.
-- Coefficients are NULL with fewer than 3 plays or a feature without spread.
-- Average rank = (rank() + plays <= value) / 2: rank() counts the plays below
-- plus one, and count(*) over the same ordering (default RANGE frame, peers
-- included) counts the plays at or below; one sort per feature. All 72
-- coefficients come from one pass over the plays, then are laid out one row
-- per pair.
with listening as (
    select * from listening_with_features
),

params as (
    select * from run_params
),

feature_plays as (
    select
        l.user_id,
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
        and (coalesce(l.feature_source, '') <> 'synthetic' or p.allow_synthetic)
        and l.danceability is not null
        and l.energy is not null
        and l.loudness is not null
        and l.speechiness is not null
        and l.acousticness is not null
        and l.instrumentalness is not null
        and l.liveness is not null
        and l.valence is not null
        and l.tempo is not null
),

ranked as (
    select
        f.user_id,
        f.danceability,
        f.energy,
        f.loudness,
        f.speechiness,
        f.acousticness,
        f.instrumentalness,
        f.liveness,
        f.valence,
        f.tempo,
        (rank() over (partition by f.user_id order by f.danceability)
            + count(*) over (partition by f.user_id order by f.danceability)) / 2.0 as danceability_rank,
        (rank() over (partition by f.user_id order by f.energy)
            + count(*) over (partition by f.user_id order by f.energy)) / 2.0 as energy_rank,
        (rank() over (partition by f.user_id order by f.loudness)
            + count(*) over (partition by f.user_id order by f.loudness)) / 2.0 as loudness_rank,
        (rank() over (partition by f.user_id order by f.speechiness)
            + count(*) over (partition by f.user_id order by f.speechiness)) / 2.0 as speechiness_rank,
        (rank() over (partition by f.user_id order by f.acousticness)
            + count(*) over (partition by f.user_id order by f.acousticness)) / 2.0 as acousticness_rank,
        (rank() over (partition by f.user_id order by f.instrumentalness)
            + count(*) over (partition by f.user_id order by f.instrumentalness)) / 2.0 as instrumentalness_rank,
        (rank() over (partition by f.user_id order by f.liveness)
            + count(*) over (partition by f.user_id order by f.liveness)) / 2.0 as liveness_rank,
        (rank() over (partition by f.user_id order by f.valence)
            + count(*) over (partition by f.user_id order by f.valence)) / 2.0 as valence_rank,
        (rank() over (partition by f.user_id order by f.tempo)
            + count(*) over (partition by f.user_id order by f.tempo)) / 2.0 as tempo_rank
    from feature_plays as f
),

moments as (
    select
        r.user_id,
        cast(count(*) as bigint) as n_feature_plays,
        stddev_pop(r.danceability) as danceability_sd,
        stddev_pop(r.danceability_rank) as danceability_rank_sd,
        stddev_pop(r.energy) as energy_sd,
        stddev_pop(r.energy_rank) as energy_rank_sd,
        stddev_pop(r.loudness) as loudness_sd,
        stddev_pop(r.loudness_rank) as loudness_rank_sd,
        stddev_pop(r.speechiness) as speechiness_sd,
        stddev_pop(r.speechiness_rank) as speechiness_rank_sd,
        stddev_pop(r.acousticness) as acousticness_sd,
        stddev_pop(r.acousticness_rank) as acousticness_rank_sd,
        stddev_pop(r.instrumentalness) as instrumentalness_sd,
        stddev_pop(r.instrumentalness_rank) as instrumentalness_rank_sd,
        stddev_pop(r.liveness) as liveness_sd,
        stddev_pop(r.liveness_rank) as liveness_rank_sd,
        stddev_pop(r.valence) as valence_sd,
        stddev_pop(r.valence_rank) as valence_rank_sd,
        stddev_pop(r.tempo) as tempo_sd,
        stddev_pop(r.tempo_rank) as tempo_rank_sd,
        corr(r.danceability, r.energy) as pearson_danceability__energy,
        corr(r.danceability, r.loudness) as pearson_danceability__loudness,
        corr(r.danceability, r.speechiness) as pearson_danceability__speechiness,
        corr(r.danceability, r.acousticness) as pearson_danceability__acousticness,
        corr(r.danceability, r.instrumentalness) as pearson_danceability__instrumentalness,
        corr(r.danceability, r.liveness) as pearson_danceability__liveness,
        corr(r.danceability, r.valence) as pearson_danceability__valence,
        corr(r.danceability, r.tempo) as pearson_danceability__tempo,
        corr(r.energy, r.loudness) as pearson_energy__loudness,
        corr(r.energy, r.speechiness) as pearson_energy__speechiness,
        corr(r.energy, r.acousticness) as pearson_energy__acousticness,
        corr(r.energy, r.instrumentalness) as pearson_energy__instrumentalness,
        corr(r.energy, r.liveness) as pearson_energy__liveness,
        corr(r.energy, r.valence) as pearson_energy__valence,
        corr(r.energy, r.tempo) as pearson_energy__tempo,
        corr(r.loudness, r.speechiness) as pearson_loudness__speechiness,
        corr(r.loudness, r.acousticness) as pearson_loudness__acousticness,
        corr(r.loudness, r.instrumentalness) as pearson_loudness__instrumentalness,
        corr(r.loudness, r.liveness) as pearson_loudness__liveness,
        corr(r.loudness, r.valence) as pearson_loudness__valence,
        corr(r.loudness, r.tempo) as pearson_loudness__tempo,
        corr(r.speechiness, r.acousticness) as pearson_speechiness__acousticness,
        corr(r.speechiness, r.instrumentalness) as pearson_speechiness__instrumentalness,
        corr(r.speechiness, r.liveness) as pearson_speechiness__liveness,
        corr(r.speechiness, r.valence) as pearson_speechiness__valence,
        corr(r.speechiness, r.tempo) as pearson_speechiness__tempo,
        corr(r.acousticness, r.instrumentalness) as pearson_acousticness__instrumentalness,
        corr(r.acousticness, r.liveness) as pearson_acousticness__liveness,
        corr(r.acousticness, r.valence) as pearson_acousticness__valence,
        corr(r.acousticness, r.tempo) as pearson_acousticness__tempo,
        corr(r.instrumentalness, r.liveness) as pearson_instrumentalness__liveness,
        corr(r.instrumentalness, r.valence) as pearson_instrumentalness__valence,
        corr(r.instrumentalness, r.tempo) as pearson_instrumentalness__tempo,
        corr(r.liveness, r.valence) as pearson_liveness__valence,
        corr(r.liveness, r.tempo) as pearson_liveness__tempo,
        corr(r.valence, r.tempo) as pearson_valence__tempo,
        corr(r.danceability_rank, r.energy_rank) as spearman_danceability__energy,
        corr(r.danceability_rank, r.loudness_rank) as spearman_danceability__loudness,
        corr(r.danceability_rank, r.speechiness_rank) as spearman_danceability__speechiness,
        corr(r.danceability_rank, r.acousticness_rank) as spearman_danceability__acousticness,
        corr(r.danceability_rank, r.instrumentalness_rank) as spearman_danceability__instrumentalness,
        corr(r.danceability_rank, r.liveness_rank) as spearman_danceability__liveness,
        corr(r.danceability_rank, r.valence_rank) as spearman_danceability__valence,
        corr(r.danceability_rank, r.tempo_rank) as spearman_danceability__tempo,
        corr(r.energy_rank, r.loudness_rank) as spearman_energy__loudness,
        corr(r.energy_rank, r.speechiness_rank) as spearman_energy__speechiness,
        corr(r.energy_rank, r.acousticness_rank) as spearman_energy__acousticness,
        corr(r.energy_rank, r.instrumentalness_rank) as spearman_energy__instrumentalness,
        corr(r.energy_rank, r.liveness_rank) as spearman_energy__liveness,
        corr(r.energy_rank, r.valence_rank) as spearman_energy__valence,
        corr(r.energy_rank, r.tempo_rank) as spearman_energy__tempo,
        corr(r.loudness_rank, r.speechiness_rank) as spearman_loudness__speechiness,
        corr(r.loudness_rank, r.acousticness_rank) as spearman_loudness__acousticness,
        corr(r.loudness_rank, r.instrumentalness_rank) as spearman_loudness__instrumentalness,
        corr(r.loudness_rank, r.liveness_rank) as spearman_loudness__liveness,
        corr(r.loudness_rank, r.valence_rank) as spearman_loudness__valence,
        corr(r.loudness_rank, r.tempo_rank) as spearman_loudness__tempo,
        corr(r.speechiness_rank, r.acousticness_rank) as spearman_speechiness__acousticness,
        corr(r.speechiness_rank, r.instrumentalness_rank) as spearman_speechiness__instrumentalness,
        corr(r.speechiness_rank, r.liveness_rank) as spearman_speechiness__liveness,
        corr(r.speechiness_rank, r.valence_rank) as spearman_speechiness__valence,
        corr(r.speechiness_rank, r.tempo_rank) as spearman_speechiness__tempo,
        corr(r.acousticness_rank, r.instrumentalness_rank) as spearman_acousticness__instrumentalness,
        corr(r.acousticness_rank, r.liveness_rank) as spearman_acousticness__liveness,
        corr(r.acousticness_rank, r.valence_rank) as spearman_acousticness__valence,
        corr(r.acousticness_rank, r.tempo_rank) as spearman_acousticness__tempo,
        corr(r.instrumentalness_rank, r.liveness_rank) as spearman_instrumentalness__liveness,
        corr(r.instrumentalness_rank, r.valence_rank) as spearman_instrumentalness__valence,
        corr(r.instrumentalness_rank, r.tempo_rank) as spearman_instrumentalness__tempo,
        corr(r.liveness_rank, r.valence_rank) as spearman_liveness__valence,
        corr(r.liveness_rank, r.tempo_rank) as spearman_liveness__tempo,
        corr(r.valence_rank, r.tempo_rank) as spearman_valence__tempo
    from ranked as r
    group by r.user_id
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
