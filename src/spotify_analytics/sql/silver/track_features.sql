-- track_features: one row per played music track_key with audio features from the
-- best available source, whole rows only (never mixed column by column):
-- spotify_api (high) > catalog_id (high) > catalog_match (medium) > reccobeats (medium)
-- > artist_profile (low) > synthetic (only with allow_synthetic) > none (nulls).
-- Among candidates of one source, the track id played most often wins.
-- A track's row depends only on the plays of that track_key (and on the catalog,
-- the provider features and the name matches), so an incremental run rebuilds
-- only the keys whose plays changed.
-- catalog_track_id and genres come from the catalog track linked by id (else by
-- name match), whatever source the features came from.

with

spellings as (
    select * from track_plays
),

catalog as (
    select * from catalog_tracks
),

name_matches as (
    select * from track_catalog_matches
),

provider_features as (
    select * from my_tracks_features_bronze
),

params as (
    select * from run_params
),

played_tracks as (
    select track_key, cast(sum(n_plays) as bigint) as n_plays
    from spellings
    group by track_key
),

played_ids as (
    select track_key, track_id, cast(sum(n_plays) as bigint) as n_plays
    from spellings
    where track_id is not null
    group by track_key, track_id
),

provider_candidates as (
    select
        played_ids.track_key,
        case provider_features.provider when 'spotify_api' then 1 else 4 end as priority,
        provider_features.provider as feature_source,
        case provider_features.provider when 'spotify_api' then 'high' else 'medium' end
            as feature_confidence,
        cast(null as double) as match_score,
        played_ids.n_plays,
        played_ids.track_id as tie_breaker,
        provider_features.danceability,
        provider_features.energy,
        provider_features.key,
        provider_features.loudness,
        provider_features.mode,
        provider_features.speechiness,
        provider_features.acousticness,
        provider_features.instrumentalness,
        provider_features.liveness,
        provider_features.valence,
        provider_features.tempo,
        provider_features.time_signature
    from played_ids
    inner join provider_features on provider_features.track_id = played_ids.track_id
    where provider_features.provider in ('spotify_api', 'reccobeats')
),

catalog_id_candidates as (
    select
        played_ids.track_key,
        2 as priority,
        'catalog_id' as feature_source,
        'high' as feature_confidence,
        cast(null as double) as match_score,
        played_ids.n_plays,
        played_ids.track_id as tie_breaker,
        catalog.danceability,
        catalog.energy,
        catalog.key,
        catalog.loudness,
        catalog.mode,
        catalog.speechiness,
        catalog.acousticness,
        catalog.instrumentalness,
        catalog.liveness,
        catalog.valence,
        catalog.tempo,
        catalog.time_signature
    from played_ids
    inner join catalog on catalog.track_id = played_ids.track_id
),

catalog_match_candidates as (
    select
        name_matches.track_key,
        3 as priority,
        'catalog_match' as feature_source,
        'medium' as feature_confidence,
        name_matches.match_score,
        cast(0 as bigint) as n_plays,
        catalog.track_id as tie_breaker,
        catalog.danceability,
        catalog.energy,
        catalog.key,
        catalog.loudness,
        catalog.mode,
        catalog.speechiness,
        catalog.acousticness,
        catalog.instrumentalness,
        catalog.liveness,
        catalog.valence,
        catalog.tempo,
        catalog.time_signature
    from name_matches
    inner join catalog on catalog.track_id = name_matches.catalog_track_id
),

-- mean features of the artist's catalog tracks; a mean key means nothing, so none
artist_profiles as (
    select
        artist_name,
        avg(danceability) as danceability,
        avg(energy) as energy,
        avg(loudness) as loudness,
        cast(round(avg(mode)) as bigint) as mode,
        avg(speechiness) as speechiness,
        avg(acousticness) as acousticness,
        avg(instrumentalness) as instrumentalness,
        avg(liveness) as liveness,
        avg(valence) as valence,
        avg(tempo) as tempo,
        cast(round(avg(time_signature)) as bigint) as time_signature
    from catalog
    where artist_name is not null
    group by artist_name
),

artist_profile_candidates as (
    select
        name_matches.track_key,
        5 as priority,
        'artist_profile' as feature_source,
        'low' as feature_confidence,
        cast(null as double) as match_score,
        cast(0 as bigint) as n_plays,
        name_matches.catalog_artist_name as tie_breaker,
        artist_profiles.danceability,
        artist_profiles.energy,
        cast(null as bigint) as key,
        artist_profiles.loudness,
        artist_profiles.mode,
        artist_profiles.speechiness,
        artist_profiles.acousticness,
        artist_profiles.instrumentalness,
        artist_profiles.liveness,
        artist_profiles.valence,
        artist_profiles.tempo,
        artist_profiles.time_signature
    from name_matches
    inner join artist_profiles on artist_profiles.artist_name = name_matches.catalog_artist_name
),

-- deterministic stand-in values from the bytes of md5(track_key); only on request
hashed_tracks as (
    select
        played_tracks.track_key,
        md5(played_tracks.track_key) as digest
    from played_tracks
    cross join params
    where params.allow_synthetic
),

hash_bytes as (
    select
        track_key,
        (strpos('0123456789abcdef', substr(digest, 1, 1)) - 1) * 16
            + strpos('0123456789abcdef', substr(digest, 2, 1)) - 1 as b1,
        (strpos('0123456789abcdef', substr(digest, 3, 1)) - 1) * 16
            + strpos('0123456789abcdef', substr(digest, 4, 1)) - 1 as b2,
        (strpos('0123456789abcdef', substr(digest, 5, 1)) - 1) * 16
            + strpos('0123456789abcdef', substr(digest, 6, 1)) - 1 as b3,
        (strpos('0123456789abcdef', substr(digest, 7, 1)) - 1) * 16
            + strpos('0123456789abcdef', substr(digest, 8, 1)) - 1 as b4,
        (strpos('0123456789abcdef', substr(digest, 9, 1)) - 1) * 16
            + strpos('0123456789abcdef', substr(digest, 10, 1)) - 1 as b5,
        (strpos('0123456789abcdef', substr(digest, 11, 1)) - 1) * 16
            + strpos('0123456789abcdef', substr(digest, 12, 1)) - 1 as b6,
        (strpos('0123456789abcdef', substr(digest, 13, 1)) - 1) * 16
            + strpos('0123456789abcdef', substr(digest, 14, 1)) - 1 as b7,
        (strpos('0123456789abcdef', substr(digest, 15, 1)) - 1) * 16
            + strpos('0123456789abcdef', substr(digest, 16, 1)) - 1 as b8,
        (strpos('0123456789abcdef', substr(digest, 17, 1)) - 1) * 16
            + strpos('0123456789abcdef', substr(digest, 18, 1)) - 1 as b9,
        (strpos('0123456789abcdef', substr(digest, 19, 1)) - 1) * 16
            + strpos('0123456789abcdef', substr(digest, 20, 1)) - 1 as b10,
        (strpos('0123456789abcdef', substr(digest, 21, 1)) - 1) * 16
            + strpos('0123456789abcdef', substr(digest, 22, 1)) - 1 as b11
    from hashed_tracks
),

synthetic_candidates as (
    select
        track_key,
        6 as priority,
        'synthetic' as feature_source,
        'synthetic' as feature_confidence,
        cast(null as double) as match_score,
        cast(0 as bigint) as n_plays,
        track_key as tie_breaker,
        b1 / 255.0 as danceability,
        b2 / 255.0 as energy,
        cast(b3 % 12 as bigint) as key,
        -30.0 + 30.0 * b4 / 255.0 as loudness,
        cast(b5 % 2 as bigint) as mode,
        b6 / 255.0 as speechiness,
        b7 / 255.0 as acousticness,
        b8 / 255.0 as instrumentalness,
        b9 / 255.0 as liveness,
        b10 / 255.0 as valence,
        60.0 + 140.0 * b11 / 255.0 as tempo,
        cast(4 as bigint) as time_signature
    from hash_bytes
),

candidates as (
    select * from provider_candidates
    union all
    select * from catalog_id_candidates
    union all
    select * from catalog_match_candidates
    union all
    select * from artist_profile_candidates
    union all
    select * from synthetic_candidates
),

ranked_candidates as (
    select
        *,
        row_number() over (
            partition by track_key order by priority, n_plays desc, tie_breaker
        ) as candidate_rank
    from candidates
),

catalog_links as (
    select track_key, 1 as link_priority, n_plays, track_id as catalog_track_id
    from played_ids
    where track_id in (select track_id from catalog)
    union all
    select track_key, 2 as link_priority, 0 as n_plays, catalog_track_id
    from name_matches
    where catalog_track_id is not null
),

best_links as (
    select
        *,
        row_number() over (
            partition by track_key order by link_priority, n_plays desc, catalog_track_id
        ) as link_rank
    from catalog_links
),

resolved as (
    select
        played_tracks.track_key,
        chosen.feature_source,
        chosen.feature_confidence,
        chosen.match_score,
        best_links.catalog_track_id,
        catalog.genres,
        cast(chosen.danceability as double) as danceability,
        cast(chosen.energy as double) as energy,
        cast(chosen.key as bigint) as key,
        cast(chosen.loudness as double) as loudness,
        cast(chosen.mode as bigint) as mode,
        cast(chosen.speechiness as double) as speechiness,
        cast(chosen.acousticness as double) as acousticness,
        cast(chosen.instrumentalness as double) as instrumentalness,
        cast(chosen.liveness as double) as liveness,
        cast(chosen.valence as double) as valence,
        cast(chosen.tempo as double) as tempo,
        cast(chosen.time_signature as bigint) as time_signature
    from played_tracks
    left join ranked_candidates as chosen
        on chosen.track_key = played_tracks.track_key
        and chosen.candidate_rank = 1
    left join best_links
        on best_links.track_key = played_tracks.track_key
        and best_links.link_rank = 1
    left join catalog on catalog.track_id = best_links.catalog_track_id
),

-- the track's mood quadrant from its valence and energy (null without them)
final as (
    select
        resolved.*,
        case
            when resolved.valence is null or resolved.energy is null then null
            when resolved.valence >= 0.6 and resolved.energy >= 0.6 then 'happy-energetic'
            when resolved.valence >= 0.6 and resolved.energy < 0.4 then 'happy-calm'
            when resolved.valence < 0.4 and resolved.energy >= 0.6 then 'sad-energetic'
            when resolved.valence < 0.4 and resolved.energy < 0.4 then 'sad-calm'
            else 'neutral'
        end as mood_quadrant
    from resolved
)

select * from final
