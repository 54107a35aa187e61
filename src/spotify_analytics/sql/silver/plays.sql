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
--
-- A user's plays depend only on that user's records (track names are unified per
-- user, every join and window is within a user), so any subset of users can be
-- rebuilt alone.
--
-- Cost at millions of records: the merge steps (copies, cross-source pairing, ids of
-- plays sharing an end time) only see the records that can take part in one: every
-- record of a user with more than one source, and the records sharing their user and
-- end time with another. Every other record is a play as it is. Sessions are numbered
-- with window functions over a narrow table of play ids, end times and lengths, and
-- local time adds each zone's UTC offset, looked up once per zone and hour (an hour
-- holding a DST change converts per play); both are joined back to the plays by id, the
-- only join whose hash table holds a row per play.

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

-- every record with its own track key, artist and title: trimmed, lower-cased, whitespace
-- runs collapsed to one space (the regular expression only runs on names that hold a
-- run or a tab, newline, form feed or carriage return, what \s matches). Computed here,
-- in the CTE DuckDB materialises, it runs once per record; computed in named_records,
-- which three steps read, it ran once per reader (a fifth of the query's CPU)
raw_records as (
    select
        *,
        concat(
            lower(trim(case
                when strpos(coalesce(artist_name, ''), '  ') > 0
                    or strpos(coalesce(artist_name, ''), chr(9)) > 0
                    or strpos(coalesce(artist_name, ''), chr(10)) > 0
                    or strpos(coalesce(artist_name, ''), chr(12)) > 0
                    or strpos(coalesce(artist_name, ''), chr(13)) > 0
                    then regexp_replace(coalesce(artist_name, ''), '\s+', ' ', 'g')
                else coalesce(artist_name, '')
            end)),
            '|',
            lower(trim(case
                when strpos(coalesce(track_name, ''), '  ') > 0
                    or strpos(coalesce(track_name, ''), chr(9)) > 0
                    or strpos(coalesce(track_name, ''), chr(10)) > 0
                    or strpos(coalesce(track_name, ''), chr(12)) > 0
                    or strpos(coalesce(track_name, ''), chr(13)) > 0
                    then regexp_replace(coalesce(track_name, ''), '\s+', ' ', 'g')
                else coalesce(track_name, '')
            end))
        ) as own_track_key
    from (
        select * from export_records
        union all
        select * from api_records
    ) as records
),

-- who played when, from the user and time columns only (for routing and time zones)
record_stamps as (
    select
        user_id,
        case when record_format = 'extended' then 'extended_export' else 'account_export' end
            as source,
        ts as played_at
    from streaming_history_bronze
    where ts is not null and user_id is not null
    union all
    select user_id, 'api' as source, played_at
    from listening_history_bronze
    where played_at is not null and user_id is not null
),

padded_records as (
    select
        *,
        case source when 'extended_export' then 3 when 'api' then 2 else 1 end as source_rank
    from raw_records
),

named_records as (
    select
        user_id,
        source,
        source_record_id,
        played_at,
        ts_precision_s,
        ms_played,
        content_type,
        is_music,
        track_id,
        track_name,
        artist_name,
        album_name,
        reason_start,
        reason_end,
        platform,
        shuffle,
        skipped,
        source_rank,
        own_track_key
    from padded_records
),

-- one name per Spotify track id and user, so the user's API and export plays of a
-- track share a key; only ids the user's records spell in more than one way need a
-- choice (the others keep their one name)
respelled_ids as (
    select user_id, track_id
    from named_records
    where track_id is not null
    group by user_id, track_id
    having min(own_track_key) <> max(own_track_key)
),

id_names as (
    select
        named_records.user_id,
        named_records.track_id,
        named_records.own_track_key,
        max(named_records.source_rank) as best_rank,
        count(*) as n_records
    from named_records
    inner join respelled_ids
        on respelled_ids.user_id = named_records.user_id
        and respelled_ids.track_id = named_records.track_id
    where named_records.own_track_key <> '|'
    group by named_records.user_id, named_records.track_id, named_records.own_track_key
),

canonical_names as (
    select
        user_id,
        track_id,
        own_track_key as canonical_track_key,
        row_number() over (
            partition by user_id, track_id
            order by best_rank desc, n_records desc, own_track_key
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

-- records that can merge with another: all of a user with several sources, and those
-- sharing user and end time with another record (copies, or a second play); found on
-- the user and time columns alone
mixed_users as (
    select user_id
    from record_stamps
    group by user_id
    having count(distinct source) > 1
),

shared_end_times as (
    select user_id, played_at
    from record_stamps
    group by user_id, played_at
    having count(*) > 1
),

routed_records as (
    select
        keyed_records.*,
        mixed_users.user_id is not null or shared_end_times.user_id is not null as may_merge
    from keyed_records
    left join mixed_users on mixed_users.user_id = keyed_records.user_id
    left join shared_end_times
        on shared_end_times.user_id = keyed_records.user_id
        and shared_end_times.played_at = keyed_records.played_at
),

merge_records as (
    select * from routed_records where may_merge
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
    from merge_records
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
merged_plays as (
    select
        user_id,
        played_at,
        track_key,
        track_id,
        track_name,
        artist_name,
        album_name,
        ms_played,
        is_music,
        content_type,
        source,
        ts_precision_s,
        reason_start,
        reason_end,
        platform,
        shuffle,
        skipped,
        n_source_records,
        row_number() over (
            partition by user_id, played_at, track_key
            order by source_rank desc, ms_played desc nulls last, record_key
        ) as id_occurrence
    from unified
),

-- the play id hashes the user, the end time in epoch milliseconds (rounded down, as
-- date_diff counts them), the track key and, from the second play on, its occurrence
merged_ids as (
    select
        md5(concat(
            user_id,
            '|',
            cast(
                (epoch_us(played_at) - (epoch_us(played_at) % 1000 + 1000) % 1000) // 1000
                as varchar
            ),
            '|',
            track_key,
            case when id_occurrence > 1 then concat('|', cast(id_occurrence as varchar)) else '' end
        )) as play_id,
        *
    from merged_plays
),

-- a record alone at its end time, of a user with one source, is a play by itself
single_plays as (
    select
        md5(concat(
            user_id,
            '|',
            cast(
                (epoch_us(played_at) - (epoch_us(played_at) % 1000 + 1000) % 1000) // 1000
                as varchar
            ),
            '|',
            track_key
        )) as play_id,
        user_id,
        played_at,
        track_key,
        track_id,
        track_name,
        artist_name,
        album_name,
        ms_played,
        is_music,
        content_type,
        source,
        ts_precision_s,
        reason_start,
        reason_end,
        platform,
        shuffle,
        skipped,
        cast(1 as bigint) as n_source_records
    from routed_records
    where not may_merge
),

timed as (
    select
        play_id,
        user_id,
        played_at,
        track_key,
        track_id,
        track_name,
        artist_name,
        album_name,
        ms_played,
        is_music,
        content_type,
        source,
        ts_precision_s,
        reason_start,
        reason_end,
        platform,
        shuffle,
        skipped,
        n_source_records
    from merged_ids
    union all
    select * from single_plays
),

-- each zone's UTC offset at the start and the end of every hour with records
zone_hours as (
    select
        coalesce(user_zones.timezone, 'UTC') as timezone,
        cast(floor(epoch_us(record_stamps.played_at) / 3600000000.0) as bigint) as hour_no
    from record_stamps
    left join user_zones on user_zones.user_id = record_stamps.user_id
    group by 1, 2
    -- always true: it tells DuckDB's planner this table is smaller than the plays, so
    -- the join below builds its hash table on the zone hours, not on every play
    having count(*) > 0
),

zone_offsets as (
    select
        timezone,
        hour_no,
        date_diff(
            'microsecond',
            to_timestamp(hour_no * 3600) at time zone 'UTC',
            to_timestamp(hour_no * 3600) at time zone timezone
        ) as offset_us,
        date_diff(
            'microsecond',
            to_timestamp(hour_no * 3600 + 3600) at time zone 'UTC',
            to_timestamp(hour_no * 3600 + 3600) at time zone timezone
        ) as next_offset_us
    from zone_hours
),

-- sessions and zones are worked out on the few columns they need and joined back to the
-- plays by id (a window over whole plays sorts every column, and the plays would be the
-- join's build side): a single play's id again, then the merged plays'
play_clock as (
    select
        md5(concat(
            user_id,
            '|',
            cast(
                (epoch_us(played_at) - (epoch_us(played_at) % 1000 + 1000) % 1000) // 1000
                as varchar
            ),
            '|',
            track_key
        )) as play_id,
        user_id,
        played_at,
        ms_played
    from routed_records
    where not may_merge
    union all
    select play_id, user_id, played_at, ms_played
    from merged_ids
),

play_ends as (
    select
        *,
        -- epoch milliseconds rounded down, as date_diff counts them
        (epoch_us(played_at) - (epoch_us(played_at) % 1000 + 1000) % 1000) // 1000
            as played_ms
    from play_clock
),

-- a new session starts when this play began more than the gap after the previous play
-- ended
session_steps as (
    select
        *,
        lag(played_ms) over (partition by user_id order by played_at, play_id) as previous_end_ms,
        row_number() over (partition by user_id order by played_at, play_id) as play_no
    from play_ends
),

session_starts as (
    select
        *,
        case
            when previous_end_ms is null then 1
            when played_ms - coalesce(ms_played, 0) - previous_end_ms
                > 60000 * (select session_gap_minutes from params) then 1
            else 0
        end as starts_session
    from session_steps
),

sessions as (
    select
        play_id,
        user_id,
        played_at,
        last_value(case when starts_session = 1 then play_id end ignore nulls) over (
            partition by user_id order by play_no rows unbounded preceding
        ) as session_id,
        play_no - max(case when starts_session = 1 then play_no end) over (
            partition by user_id order by play_no rows unbounded preceding
        ) + 1 as session_play_no
    from session_starts
),

-- each play's zone and that zone's offsets in the play's hour
play_zones as (
    select
        sessions.play_id,
        sessions.played_at,
        sessions.session_id,
        sessions.session_play_no,
        coalesce(user_zones.timezone, 'UTC') as timezone,
        zone_offsets.offset_us,
        zone_offsets.next_offset_us
    from sessions
    left join user_zones on user_zones.user_id = sessions.user_id
    inner join zone_offsets
        on zone_offsets.timezone = coalesce(user_zones.timezone, 'UTC')
        and zone_offsets.hour_no
        = cast(floor(epoch_us(sessions.played_at) / 3600000000.0) as bigint)
),

-- the local time adds the zone's offset, unless the offset changes within the hour
localized as (
    select
        timed.*,
        timed.played_at - coalesce(timed.ms_played, 0) * interval '1 millisecond'
            as started_at,
        play_zones.timezone,
        case
            when play_zones.offset_us = play_zones.next_offset_us
                then make_timestamp(epoch_us(timed.played_at) + play_zones.offset_us)
            else timed.played_at at time zone play_zones.timezone
        end as played_at_local,
        play_zones.session_id,
        play_zones.session_play_no,
        coalesce(timed.ms_played < (select skip_threshold_ms from params), false) as is_skip
    from timed
    -- (play_id, played_at) is unique even where two plays within one millisecond share a
    -- play_id
    inner join play_zones
        on play_zones.play_id = timed.play_id
        and play_zones.played_at = timed.played_at
),

-- ISO weekday from the days since Monday 2024-01-01 (portable across engines)
calendar as (
    select
        *,
        cast(played_at_local as date) as local_date,
        (date_diff('day', cast('2024-01-01' as date), cast(played_at_local as date)) % 7 + 7) % 7
            + 1 as iso_day,
        cast(extract(hour from played_at_local) as integer) as local_hour
    from localized
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
        session_id,
        cast(session_play_no as integer) as session_play_no,
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
