-- Where each user's audio features come from: plays and distinct tracks per
-- feature source and confidence, with the share of the user's music plays.
-- 'none' means the play has no features. used_in_analytics is false for
-- 'none' and for 'synthetic' (unless run_params.allow_synthetic).
with listening as (
    select * from listening_with_features
),

params as (
    select allow_synthetic from run_params
),

music_plays as (
    select
        l.user_id,
        l.track_key,
        case when l.valence is null then 'none' else coalesce(l.feature_source, 'none') end
            as feature_source,
        case when l.valence is null then 'none' else coalesce(l.feature_confidence, 'none') end
            as feature_confidence
    from listening as l
    where l.is_music
),

per_source as (
    select
        m.user_id,
        m.feature_source,
        m.feature_confidence,
        cast(count(*) as bigint) as plays,
        cast(count(distinct m.track_key) as bigint) as distinct_tracks
    from music_plays as m
    group by m.user_id, m.feature_source, m.feature_confidence
),

final as (
    select
        s.user_id,
        s.feature_source,
        s.feature_confidence,
        s.plays,
        s.distinct_tracks,
        cast(s.plays as double) / sum(s.plays) over (partition by s.user_id) as share,
        s.feature_source <> 'none'
        and (s.feature_source <> 'synthetic' or p.allow_synthetic) as used_in_analytics
    from per_source as s
    cross join params as p
)

select * from final
