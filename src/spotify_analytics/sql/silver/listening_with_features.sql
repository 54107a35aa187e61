-- listening_with_features: every play with its track's audio features and mood
-- quadrant (music only). track_features has one row per track_key, so the join
-- never multiplies plays.

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
        features.time_signature,
        features.mood_quadrant
    from play_rows
    -- podcasts get no features; the key is nulled (not an extra join condition) so
    -- the join stays a hash join
    left join features
        on features.track_key = case when play_rows.is_music then play_rows.track_key end
),

final as (
    select * from joined
)

select * from final
