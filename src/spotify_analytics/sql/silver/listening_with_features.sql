-- listening_with_features: every play with its track's audio features (music only).
-- track_features has one row per track_key, so the join never multiplies plays.

with

play_rows as (
    select * from plays
),

features as (
    select * from track_features
),

joined as (
    select
        play_rows.*,
        features.feature_source,
        features.feature_confidence,
        features.match_score,
        features.catalog_track_id,
        features.genres,
        features.danceability,
        features.energy,
        features.key,
        features.loudness,
        features.mode,
        features.speechiness,
        features.acousticness,
        features.instrumentalness,
        features.liveness,
        features.valence,
        features.tempo,
        features.time_signature
    from play_rows
    -- podcasts get no features; the key is nulled (not an extra join condition) so
    -- the join stays a hash join
    left join features
        on features.track_key = case when play_rows.is_music then play_rows.track_key end
),

final as (
    select
        *,
        case
            when valence is null or energy is null then null
            when valence >= 0.6 and energy >= 0.6 then 'happy-energetic'
            when valence >= 0.6 and energy < 0.4 then 'happy-calm'
            when valence < 0.4 and energy >= 0.6 then 'sad-energetic'
            when valence < 0.4 and energy < 0.4 then 'sad-calm'
            else 'neutral'
        end as mood_quadrant
    from joined
)

select * from final
