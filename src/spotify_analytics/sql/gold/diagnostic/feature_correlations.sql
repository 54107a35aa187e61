-- Pearson and Spearman correlation of every pair of audio features, per user,
-- over the user's music plays that were not skipped and have all nine
-- features (complete cases). Spearman = Pearson of average ranks (ties share
-- the mean of their ranks). strength from |pearson_r| (spearman_strength from
-- |spearman_rho|): >= 0.7 strong, >= 0.4 moderate, >= 0.2 weak, else negligible.
-- Coefficients are NULL with fewer than 3 plays or a feature without spread.
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
        rank() over (partition by f.user_id order by f.danceability)
            + (count(*) over (partition by f.user_id, f.danceability) - 1) / 2.0 as danceability_rank,
        rank() over (partition by f.user_id order by f.energy)
            + (count(*) over (partition by f.user_id, f.energy) - 1) / 2.0 as energy_rank,
        rank() over (partition by f.user_id order by f.loudness)
            + (count(*) over (partition by f.user_id, f.loudness) - 1) / 2.0 as loudness_rank,
        rank() over (partition by f.user_id order by f.speechiness)
            + (count(*) over (partition by f.user_id, f.speechiness) - 1) / 2.0 as speechiness_rank,
        rank() over (partition by f.user_id order by f.acousticness)
            + (count(*) over (partition by f.user_id, f.acousticness) - 1) / 2.0 as acousticness_rank,
        rank() over (partition by f.user_id order by f.instrumentalness)
            + (count(*) over (partition by f.user_id, f.instrumentalness) - 1) / 2.0 as instrumentalness_rank,
        rank() over (partition by f.user_id order by f.liveness)
            + (count(*) over (partition by f.user_id, f.liveness) - 1) / 2.0 as liveness_rank,
        rank() over (partition by f.user_id order by f.valence)
            + (count(*) over (partition by f.user_id, f.valence) - 1) / 2.0 as valence_rank,
        rank() over (partition by f.user_id order by f.tempo)
            + (count(*) over (partition by f.user_id, f.tempo) - 1) / 2.0 as tempo_rank
    from feature_plays as f
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
        r.user_id,
        p.feature_x,
        p.feature_y,
        case p.feature_x
            when 'danceability' then r.danceability
            when 'energy' then r.energy
            when 'loudness' then r.loudness
            when 'speechiness' then r.speechiness
            when 'acousticness' then r.acousticness
            when 'instrumentalness' then r.instrumentalness
            when 'liveness' then r.liveness
            when 'valence' then r.valence
            when 'tempo' then r.tempo
        end as x,
        case p.feature_y
            when 'danceability' then r.danceability
            when 'energy' then r.energy
            when 'loudness' then r.loudness
            when 'speechiness' then r.speechiness
            when 'acousticness' then r.acousticness
            when 'instrumentalness' then r.instrumentalness
            when 'liveness' then r.liveness
            when 'valence' then r.valence
            when 'tempo' then r.tempo
        end as y,
        case p.feature_x
            when 'danceability' then r.danceability_rank
            when 'energy' then r.energy_rank
            when 'loudness' then r.loudness_rank
            when 'speechiness' then r.speechiness_rank
            when 'acousticness' then r.acousticness_rank
            when 'instrumentalness' then r.instrumentalness_rank
            when 'liveness' then r.liveness_rank
            when 'valence' then r.valence_rank
            when 'tempo' then r.tempo_rank
        end as x_rank,
        case p.feature_y
            when 'danceability' then r.danceability_rank
            when 'energy' then r.energy_rank
            when 'loudness' then r.loudness_rank
            when 'speechiness' then r.speechiness_rank
            when 'acousticness' then r.acousticness_rank
            when 'instrumentalness' then r.instrumentalness_rank
            when 'liveness' then r.liveness_rank
            when 'valence' then r.valence_rank
            when 'tempo' then r.tempo_rank
        end as y_rank
    from ranked as r
    cross join feature_pairs as p
),

moments as (
    select
        d.user_id,
        d.feature_x,
        d.feature_y,
        cast(count(*) as bigint) as n_feature_plays,
        stddev_pop(d.x) as sd_x,
        stddev_pop(d.y) as sd_y,
        stddev_pop(d.x_rank) as sd_x_rank,
        stddev_pop(d.y_rank) as sd_y_rank,
        corr(d.x, d.y) as r_xy,
        corr(d.x_rank, d.y_rank) as r_rank
    from paired as d
    group by d.user_id, d.feature_x, d.feature_y
),

coefficients as (
    select
        m.user_id,
        m.feature_x,
        m.feature_y,
        m.n_feature_plays,
        case when m.n_feature_plays >= 3 and m.sd_x > 1e-9 and m.sd_y > 1e-9
            then greatest(-1.0, least(1.0, m.r_xy)) end as pearson_r,
        case when m.n_feature_plays >= 3 and m.sd_x_rank > 1e-9 and m.sd_y_rank > 1e-9
            then greatest(-1.0, least(1.0, m.r_rank)) end as spearman_rho
    from moments as m
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
