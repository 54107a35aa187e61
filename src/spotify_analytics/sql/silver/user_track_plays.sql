-- user_track_plays: how often each user played each music track, per spelling.
-- One row per user, track_key, track_id and names (artist, title) as the plays
-- carry them, with the skips among those plays and the milliseconds played
-- (all of them, and those of the plays that were not skipped), and when the
-- first of those plays ended. The track lookup tables (track_catalog_matches,
-- track_features) count plays from here: a few rows per track and user instead
-- of every play, so rebuilding the keys a few users' new plays touched reads
-- little; user_track_features sums it per track, and audio_to_valence takes
-- each user's first spelling of a track from it.

with

play_rows as (
    select * from plays
),

music_plays as (
    select
        user_id,
        track_key,
        track_id,
        artist_name,
        track_name,
        coalesce(is_skip, false) as is_skip,
        ms_played,
        played_at
    from play_rows
    where is_music and track_key is not null
),

final as (
    select
        user_id,
        track_key,
        track_id,
        artist_name,
        track_name,
        count(*) as n_plays,
        count(*) filter (where is_skip) as n_skips,
        cast(sum(ms_played) as bigint) as ms_played,
        cast(sum(ms_played) filter (where not is_skip) as bigint) as ms_played_not_skipped,
        min(played_at) as first_played_at
    from music_plays
    group by user_id, track_key, track_id, artist_name, track_name
)

select * from final
