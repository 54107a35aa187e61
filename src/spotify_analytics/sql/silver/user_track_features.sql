-- user_track_features: one row per user and music track_key: the user's plays
-- of the track (user_track_plays summed over the track's spellings: plays,
-- skips, milliseconds played) with the track's audio features, mood quadrant,
-- genres and their source (track_features). A play's features are its track_key's, so a
-- Gold model that needs only plays per user and track, or per user and
-- feature values, reads these rows (about 1.5M at 10M plays) instead of every
-- play: the features of the plays that were not skipped are these features,
-- n_plays - n_skips times.

with

track_plays as (
    select * from user_track_plays
),

features as (
    select * from track_features
),

per_track as (
    select
        user_id,
        track_key,
        cast(sum(n_plays) as bigint) as n_plays,
        cast(sum(n_skips) as bigint) as n_skips,
        cast(sum(ms_played) as bigint) as ms_played,
        cast(sum(ms_played_not_skipped) as bigint) as ms_played_not_skipped
    from track_plays
    group by user_id, track_key
),

final as (
    select
        per_track.user_id,
        per_track.track_key,
        per_track.n_plays,
        per_track.n_skips,
        per_track.ms_played,
        per_track.ms_played_not_skipped,
        features.feature_source,
        features.feature_confidence,
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
    from per_track
    left join features on features.track_key = per_track.track_key
)

select * from final
