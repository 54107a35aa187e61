-- Mood by local hour of day, and how strongly mood follows the clock.
-- Hour rows: music plays that were not skipped, their mean and sample std of
-- valence and energy. User columns (repeated on each of the user's hour rows,
-- prefixed corr_ / *_hour_*): Pearson r of valence and energy with
-- sin(2*pi*h/24) and cos(2*pi*h/24) over individual plays, the
-- circular-linear correlation combining both (0..1), and the hour at which the
-- fitted cosine y = a + b_sin*sin + b_cos*cos peaks. NULL with fewer than 3
-- plays or no spread in hours or mood.
with listening as (
    select * from listening_with_features
),

params as (
    select * from run_params
),

music_plays as (
    select
        l.user_id,
        l.hour_of_day,
        l.valence,
        l.energy,
        (
            l.valence is not null
            and l.energy is not null
            and (coalesce(l.feature_source, '') <> 'synthetic' or p.allow_synthetic)
        ) as has_mood
    from listening as l
    cross join params as p
    where coalesce(l.is_music, false)
        and not coalesce(l.is_skip, false)
        and l.user_id is not null
        and l.hour_of_day is not null
),

mood_plays as (
    -- hour as a point on the clock; the mood columns only where the play has a
    -- mood (the correlations skip the rest)
    select
        m.user_id,
        m.hour_of_day,
        m.has_mood,
        case when m.has_mood then m.valence end as valence,
        case when m.has_mood then m.energy end as energy,
        case when m.has_mood then sin(2 * pi() * m.hour_of_day / 24) end as hour_sin,
        case when m.has_mood then cos(2 * pi() * m.hour_of_day / 24) end as hour_cos
    from music_plays as m
),

hour_and_user_stats as (
    -- per user and hour, and (hour rolled up) per user: one scan
    select
        d.user_id,
        d.hour_of_day,
        grouping(d.hour_of_day) as is_user_row,
        cast(count(*) as bigint) as plays,
        cast(count(*) filter (where d.has_mood) as bigint) as n_feature_plays,
        avg(d.valence) as mean_valence,
        stddev_samp(d.valence) as valence_std,
        avg(d.energy) as mean_energy,
        stddev_samp(d.energy) as energy_std,
        stddev_pop(d.hour_sin) as sd_sin,
        stddev_pop(d.hour_cos) as sd_cos,
        stddev_pop(d.valence) as sd_valence,
        stddev_pop(d.energy) as sd_energy,
        corr(d.hour_sin, d.hour_cos) as r_sin_cos,
        corr(d.valence, d.hour_sin) as r_valence_sin,
        corr(d.valence, d.hour_cos) as r_valence_cos,
        corr(d.energy, d.hour_sin) as r_energy_sin,
        corr(d.energy, d.hour_cos) as r_energy_cos
    from mood_plays as d
    group by grouping sets ((d.user_id, d.hour_of_day), (d.user_id))
),

hourly as (
    select * from hour_and_user_stats where is_user_row = 0
),

moments as (
    select
        u.user_id,
        u.n_feature_plays as corr_n,
        u.sd_sin,
        u.sd_cos,
        u.sd_valence,
        u.sd_energy,
        u.r_sin_cos,
        u.r_valence_sin,
        u.r_valence_cos,
        u.r_energy_sin,
        u.r_energy_cos
    from hour_and_user_stats as u
    where u.is_user_row = 1
),

guarded as (
    -- correlations only where they are defined: >= 3 plays and spread on both sides
    select
        o.user_id,
        o.corr_n,
        case when o.corr_n >= 3 and o.sd_sin > 1e-9 and o.sd_cos > 1e-9 then o.r_sin_cos end
            as r_sin_cos,
        case when o.corr_n >= 3 and o.sd_sin > 1e-9 and o.sd_valence > 1e-9
            then o.r_valence_sin end as valence_hour_sin_r,
        case when o.corr_n >= 3 and o.sd_cos > 1e-9 and o.sd_valence > 1e-9
            then o.r_valence_cos end as valence_hour_cos_r,
        case when o.corr_n >= 3 and o.sd_sin > 1e-9 and o.sd_energy > 1e-9
            then o.r_energy_sin end as energy_hour_sin_r,
        case when o.corr_n >= 3 and o.sd_cos > 1e-9 and o.sd_energy > 1e-9
            then o.r_energy_cos end as energy_hour_cos_r,
        o.sd_sin,
        o.sd_cos
    from moments as o
),

circular as (
    -- circular-linear correlation (Mardia) and the peak hour of the fitted
    -- cosine; both need sin and cos of the hour not to be collinear
    select
        g.*,
        case when abs(g.r_sin_cos) < 0.999999 then least(1.0, sqrt(greatest(0.0, (
            g.valence_hour_sin_r * g.valence_hour_sin_r
            + g.valence_hour_cos_r * g.valence_hour_cos_r
            - 2 * g.valence_hour_sin_r * g.valence_hour_cos_r * g.r_sin_cos
        ) / (1 - g.r_sin_cos * g.r_sin_cos)))) end as valence_hour_r,
        case when abs(g.r_sin_cos) < 0.999999 then least(1.0, sqrt(greatest(0.0, (
            g.energy_hour_sin_r * g.energy_hour_sin_r
            + g.energy_hour_cos_r * g.energy_hour_cos_r
            - 2 * g.energy_hour_sin_r * g.energy_hour_cos_r * g.r_sin_cos
        ) / (1 - g.r_sin_cos * g.r_sin_cos)))) end as energy_hour_r,
        case when abs(g.r_sin_cos) < 0.999999 then
            (atan2(
                (g.valence_hour_sin_r - g.valence_hour_cos_r * g.r_sin_cos) / g.sd_sin,
                (g.valence_hour_cos_r - g.valence_hour_sin_r * g.r_sin_cos) / g.sd_cos
            ) * 12 / pi() + 24) % 24
        end as valence_peak_hour,
        case when abs(g.r_sin_cos) < 0.999999 then
            (atan2(
                (g.energy_hour_sin_r - g.energy_hour_cos_r * g.r_sin_cos) / g.sd_sin,
                (g.energy_hour_cos_r - g.energy_hour_sin_r * g.r_sin_cos) / g.sd_cos
            ) * 12 / pi() + 24) % 24
        end as energy_peak_hour
    from guarded as g
),

final as (
    select
        h.user_id,
        h.hour_of_day,
        h.plays,
        h.n_feature_plays,
        h.mean_valence,
        h.valence_std,
        h.mean_energy,
        h.energy_std,
        coalesce(c.corr_n, cast(0 as bigint)) as corr_n,
        c.valence_hour_sin_r,
        c.valence_hour_cos_r,
        c.valence_hour_r,
        c.valence_peak_hour,
        c.energy_hour_sin_r,
        c.energy_hour_cos_r,
        c.energy_hour_r,
        c.energy_peak_hour
    from hourly as h
    left join circular as c
        on h.user_id = c.user_id
)

select * from final
