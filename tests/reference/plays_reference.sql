-- Reference formulation of silver `plays`, kept to test the model against: every record
-- goes through every merge step (copies, cross-source pairing, play ids), sessions
-- and local time are computed per play with window functions and `at time zone`.
-- Slow at millions of plays, simple to read. The shipped model must give the same rows.
--
-- plays: one row per real play, unified across the privacy exports and the Web API.
--
-- Every source logs a play once, so records of the same source are never merged
-- with each other (a track replayed within seconds is two plays). A play seen by
-- several sources is merged: the extended export is the base, an API record joins
-- the nearest extended record of the same user and track within the tolerance
-- (and vice versa: mutual nearest, so each play takes at most one record per
-- source), then an account-data record joins the nearest play the same way.
-- Candidates are ranked by equal ms_played first, then by distance. Every merged
-- record is within the tolerance of the play's own timestamp, so chains of
-- records never glue separate plays together.

with

streaming_history as (
    select * from streaming_history_bronze
),

listening_history as (
    select * from listening_history_bronze
),

user_zones as (
    select * from users
),

params as (
    select * from run_params
),

export_records as (
    select
        user_id,
        case when record_format = 'extended' then 'extended_export' else 'account_export' end
            as source,
        record_id as source_record_id,
        ts as played_at,
        coalesce(ts_precision_s, 1) as ts_precision_s,
        ms_played,
        coalesce(content_type, 'unknown') as content_type,
        coalesce(is_music, false) as is_music,
        case
            when spotify_track_uri like 'spotify:track:%'
                then replace(spotify_track_uri, 'spotify:track:', '')
        end as track_id,
        coalesce(track_name, episode_name, audiobook_chapter_title) as track_name,
        coalesce(artist_name, episode_show_name, audiobook_title) as artist_name,
        album_name,
        reason_start,
        reason_end,
        platform,
        shuffle,
        skipped
    from streaming_history
    where ts is not null and user_id is not null
),

api_records as (
    select
        user_id,
        'api' as source,
        md5(concat(
            user_id,
            '|',
            cast(date_diff(
                'millisecond', cast('1970-01-01 00:00:00+00:00' as timestamptz), played_at
            ) as varchar),
            '|',
            coalesce(track_id, '')
        )) as source_record_id,
        played_at,
        1 as ts_precision_s,
        duration_ms as ms_played,
        'track' as content_type,
        true as is_music,
        track_id,
        track_name,
        artist_name,
        album_name,
        cast(null as varchar) as reason_start,
        cast(null as varchar) as reason_end,
        cast(null as varchar) as platform,
        cast(null as boolean) as shuffle,
        cast(null as boolean) as skipped
    from listening_history
    where played_at is not null and user_id is not null
),

raw_records as (
    select * from export_records
    union all
    select * from api_records
),

named_records as (
    select
        *,
        case source when 'extended_export' then 3 when 'api' then 2 else 1 end as source_rank,
        concat(
            lower(trim(regexp_replace(coalesce(artist_name, ''), '\s+', ' ', 'g'))),
            '|',
            lower(trim(regexp_replace(coalesce(track_name, ''), '\s+', ' ', 'g')))
        ) as own_track_key
    from raw_records
),

-- one name per Spotify track id, so API and export plays of a track share a key
id_names as (
    select
        user_id,
        track_id,
        own_track_key,
        max(source_rank) as best_rank,
        count(*) as n_records
    from named_records
    where track_id is not null and own_track_key <> '|'
    group by user_id, track_id, own_track_key
),

canonical_names as (
    select
        user_id,
        track_id,
        own_track_key as canonical_track_key,
        row_number() over (
            partition by user_id, track_id order by best_rank desc, n_records desc, own_track_key
        ) as name_rank
    from id_names
),

keyed_records as (
    select
        named_records.*,
        coalesce(canonical_names.canonical_track_key, named_records.own_track_key) as track_key
    from named_records
    left join canonical_names
        on canonical_names.user_id = named_records.user_id
        and canonical_names.track_id = named_records.track_id
        and canonical_names.name_rank = 1
),

-- the same record stored twice (overlapping exports, a re-import) is one record
counted_records as (
    select
        *,
        count(*) over (
            partition by user_id, source, played_at, track_key, ms_played
        ) as n_copies,
        row_number() over (
            partition by user_id, source, played_at, track_key, ms_played
            order by source_record_id
        ) as copy_no
    from keyed_records
),

distinct_records as (
    select
        counted_records.*,
        -- record ids are unique per user only
        concat(
            counted_records.source, ':', counted_records.user_id, ':',
            counted_records.source_record_id
        ) as record_key,
        1000 * case
            when counted_records.ts_precision_s >= 60
                then params.dedupe_tolerance_minute_precision_s
            else params.dedupe_tolerance_s
        end as tolerance_ms,
        -- time buckets as wide as the largest tolerance: a record's partners within the
        -- tolerance lie in its own or a neighbouring bucket (keeps the joins small when a
        -- user played one track thousands of times)
        cast(floor(
            date_diff(
                'millisecond',
                cast('1970-01-01 00:00:00+00:00' as timestamptz),
                counted_records.played_at
            ) / (1000.0 * greatest(
                params.dedupe_tolerance_s, params.dedupe_tolerance_minute_precision_s, 1
            ))
        ) as bigint) as time_bucket
    from counted_records
    cross join params
    where counted_records.copy_no = 1
),

bucket_offsets as (
    select * from (values (-1), (0), (1)) as offsets (bucket_offset)
),

extended_records as (
    select * from distinct_records where source = 'extended_export'
),

api_only_records as (
    select * from distinct_records where source = 'api'
),

account_records as (
    select * from distinct_records where source = 'account_export'
),

api_probes as (
    select
        api_only_records.*,
        api_only_records.time_bucket + bucket_offsets.bucket_offset as probe_bucket
    from api_only_records
    cross join bucket_offsets
),

account_probes as (
    select
        account_records.*,
        account_records.time_bucket + bucket_offsets.bucket_offset as probe_bucket
    from account_records
    cross join bucket_offsets
),

-- round 1: API records onto extended-export records
api_candidates as (
    select
        extended_records.record_key as play_key,
        api_probes.record_key as other_key,
        abs(date_diff('millisecond', extended_records.played_at, api_probes.played_at))
            as distance_ms,
        case
            when extended_records.ms_played = api_probes.ms_played then 0 else 1
        end as ms_differs
    from extended_records
    inner join api_probes
        on api_probes.user_id = extended_records.user_id
        and api_probes.track_key = extended_records.track_key
        and api_probes.probe_bucket = extended_records.time_bucket
    where
        abs(date_diff('millisecond', extended_records.played_at, api_probes.played_at))
        <= greatest(extended_records.tolerance_ms, api_probes.tolerance_ms)
),

api_ranked as (
    select
        *,
        row_number() over (
            partition by play_key order by ms_differs, distance_ms, other_key
        ) as rank_for_play,
        row_number() over (
            partition by other_key order by ms_differs, distance_ms, play_key
        ) as rank_for_other
    from api_candidates
),

api_pairs as (
    select play_key, other_key from api_ranked where rank_for_play = 1 and rank_for_other = 1
),

round1_plays as (
    select
        record_key as play_key,
        user_id,
        track_key,
        own_track_key,
        played_at,
        tolerance_ms,
        time_bucket,
        ms_played
    from extended_records
    union all
    select
        record_key as play_key,
        user_id,
        track_key,
        own_track_key,
        played_at,
        tolerance_ms,
        time_bucket,
        ms_played
    from api_only_records
    where record_key not in (select other_key from api_pairs)
),

-- round 2: account-data records onto the plays of round 1, by the play's key or by
-- the names its own record carried (a track's names change between exports)
account_name_pairs as (
    select round1_plays.play_key, account_probes.record_key as other_key
    from round1_plays
    inner join account_probes
        on account_probes.user_id = round1_plays.user_id
        and account_probes.track_key = round1_plays.track_key
        and account_probes.probe_bucket = round1_plays.time_bucket
    where
        abs(date_diff('millisecond', round1_plays.played_at, account_probes.played_at))
        <= greatest(round1_plays.tolerance_ms, account_probes.tolerance_ms)
    union
    select round1_plays.play_key, account_probes.record_key as other_key
    from round1_plays
    inner join account_probes
        on account_probes.user_id = round1_plays.user_id
        and account_probes.own_track_key = round1_plays.own_track_key
        and account_probes.probe_bucket = round1_plays.time_bucket
    where
        abs(date_diff('millisecond', round1_plays.played_at, account_probes.played_at))
        <= greatest(round1_plays.tolerance_ms, account_probes.tolerance_ms)
),

account_candidates as (
    select
        round1_plays.play_key,
        account_records.record_key as other_key,
        -- a minute-precision time stands for its whole minute: distance to that interval
        greatest(
            date_diff('millisecond', round1_plays.played_at, account_records.played_at),
            date_diff('millisecond', account_records.played_at, round1_plays.played_at)
            - 1000 * (account_records.ts_precision_s - 1),
            0
        ) as distance_ms,
        case when round1_plays.ms_played = account_records.ms_played then 0 else 1 end
            as ms_differs
    from account_name_pairs
    inner join round1_plays on round1_plays.play_key = account_name_pairs.play_key
    inner join account_records on account_records.record_key = account_name_pairs.other_key
),

account_ranked as (
    select
        *,
        row_number() over (
            partition by play_key order by ms_differs, distance_ms, other_key
        ) as rank_for_play,
        row_number() over (
            partition by other_key order by ms_differs, distance_ms, play_key
        ) as rank_for_other
    from account_candidates
),

account_pairs as (
    select play_key, other_key
    from account_ranked
    where rank_for_play = 1 and rank_for_other = 1
),

members as (
    select play_key, play_key as record_key from round1_plays
    union all
    select play_key, other_key as record_key from api_pairs
    union all
    select play_key, other_key as record_key from account_pairs
    union all
    select record_key as play_key, record_key
    from account_records
    where record_key not in (select other_key from account_pairs)
),

merged as (
    select
        members.play_key,
        max(distinct_records.track_id) as any_track_id,
        coalesce(
            max(case when distinct_records.source = 'extended_export' then ms_played end),
            max(case when distinct_records.source = 'account_export' then ms_played end),
            max(distinct_records.ms_played)
        ) as best_ms_played,
        cast(sum(distinct_records.n_copies) as bigint) as n_source_records
    from members
    inner join distinct_records on distinct_records.record_key = members.record_key
    group by members.play_key
),

unified as (
    select
        anchor.user_id,
        anchor.played_at,
        anchor.track_key,
        coalesce(anchor.track_id, merged.any_track_id) as track_id,
        anchor.track_name,
        anchor.artist_name,
        anchor.album_name,
        merged.best_ms_played as ms_played,
        anchor.is_music,
        anchor.content_type,
        anchor.source,
        anchor.source_rank,
        anchor.ts_precision_s,
        anchor.reason_start,
        anchor.reason_end,
        anchor.platform,
        anchor.shuffle,
        anchor.skipped,
        merged.n_source_records,
        anchor.record_key
    from merged
    inner join distinct_records as anchor on anchor.record_key = merged.play_key
),

-- a second play with the same user, end time and track (a source logged two) gets "|2"
identified as (
    select
        *,
        row_number() over (
            partition by user_id, played_at, track_key
            order by source_rank desc, ms_played desc nulls last, record_key
        ) as id_occurrence
    from unified
),

timed as (
    select
        md5(concat(
            identified.user_id,
            '|',
            cast(date_diff(
                'millisecond', cast('1970-01-01 00:00:00+00:00' as timestamptz), identified.played_at
            ) as varchar),
            '|',
            identified.track_key,
            case when identified.id_occurrence > 1 then concat('|', cast(identified.id_occurrence as varchar)) else '' end
        )) as play_id,
        identified.*,
        identified.played_at - coalesce(identified.ms_played, 0) * interval '1 millisecond' as started_at,
        coalesce(user_zones.timezone, 'UTC') as timezone,
        identified.played_at at time zone coalesce(user_zones.timezone, 'UTC') as played_at_local
    from identified
    left join user_zones on user_zones.user_id = identified.user_id
),

-- a new session starts when this play began more than the gap after the previous play ended
sequenced as (
    select
        timed.*,
        case
            when lag(played_at) over (
                partition by user_id order by played_at, play_id
            ) is null then 1
            when date_diff(
                'millisecond',
                lag(played_at) over (partition by user_id order by played_at, play_id),
                started_at
            ) > 60000 * params.session_gap_minutes then 1
            else 0
        end as starts_session,
        coalesce(ms_played < params.skip_threshold_ms, false) as is_skip
    from timed
    cross join params
),

sessions as (
    select
        *,
        sum(starts_session) over (
            partition by user_id order by played_at, play_id rows unbounded preceding
        ) as session_no
    from sequenced
),

-- ISO weekday from the days since Monday 2024-01-01 (portable across engines)
calendar as (
    select
        *,
        cast(played_at_local as date) as local_date,
        (date_diff('day', cast('2024-01-01' as date), cast(played_at_local as date)) % 7 + 7) % 7
            + 1 as iso_day,
        cast(extract(hour from played_at_local) as integer) as local_hour
    from sessions
),

final as (
    select
        play_id,
        user_id,
        played_at,
        started_at,
        timezone,
        played_at_local,
        local_date as date,
        cast(extract(year from played_at_local) as integer) as year,
        cast(extract(month from played_at_local) as integer) as month,
        local_hour as hour_of_day,
        cast(iso_day as integer) as day_of_week,
        case iso_day
            when 1 then 'Monday'
            when 2 then 'Tuesday'
            when 3 then 'Wednesday'
            when 4 then 'Thursday'
            when 5 then 'Friday'
            when 6 then 'Saturday'
            else 'Sunday'
        end as day_name,
        iso_day >= 6 as is_weekend,
        case
            when local_hour between 6 and 11 then 'morning'
            when local_hour between 12 and 17 then 'afternoon'
            when local_hour between 18 and 22 then 'evening'
            else 'night'
        end as part_of_day,
        first_value(play_id) over (
            partition by user_id, session_no order by played_at, play_id
        ) as session_id,
        cast(row_number() over (
            partition by user_id, session_no order by played_at, play_id
        ) as integer) as session_play_no,
        track_id,
        track_key,
        track_name,
        artist_name,
        album_name,
        ms_played,
        is_skip,
        is_music,
        content_type,
        source,
        cast(ts_precision_s as integer) as ts_precision_s,
        reason_start,
        reason_end,
        platform,
        shuffle,
        skipped,
        n_source_records
    from calendar
)

select * from final
