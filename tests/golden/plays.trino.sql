/* plays: one row per real play, unified across the privacy exports and the Web API. */
/* Every source logs a play once, so records of the same source are never merged */
/* with each other (a track replayed within seconds is two plays). A play seen by */
/* several sources is merged: the extended export is the base, an API record joins */
/* the nearest extended record of the same user and track within the tolerance */
/* (and vice versa: mutual nearest, so each play takes at most one record per */
/* source), then an account-data record joins the nearest play the same way. */
/* Candidates are ranked by equal ms_played first, then by distance. Every merged */
/* record is within the tolerance of the play's own timestamp, so chains of */
/* records never glue separate plays together. */
/* A user's plays depend only on that user's records (track names are unified per */
/* user, every join and window is within a user), so any subset of users can be */
/* rebuilt alone. */
/* Cost at millions of records: the merge steps (copies, cross-source pairing, ids of */
/* plays sharing an end time) only see the records that can take part in one: every */
/* record of a user with more than one source, and the records sharing their user and */
/* end time with another. Every other record is a play as it is. Sessions are numbered */
/* with window functions over a narrow table of play ids, end times and lengths, and */
/* local time adds each zone's UTC offset, looked up once per zone and hour (an hour */
/* holding a DST change converts per play); both are joined back to the plays by id, the */
/* only join whose hash table holds a row per play. */
WITH streaming_history AS (
  SELECT
    *
  FROM streaming_history_bronze
), listening_history AS (
  SELECT
    *
  FROM listening_history_bronze
), user_zones AS (
  SELECT
    *
  FROM users
), params AS (
  SELECT
    *
  FROM run_params
), export_records AS (
  SELECT
    user_id,
    CASE
      WHEN record_format = 'extended'
      THEN 'extended_export'
      ELSE 'account_export'
    END AS source,
    record_id AS source_record_id,
    ts AS played_at,
    COALESCE(ts_precision_s, 1) AS ts_precision_s,
    ms_played,
    COALESCE(content_type, 'unknown') AS content_type,
    COALESCE(is_music, FALSE) AS is_music,
    CASE
      WHEN spotify_track_uri LIKE 'spotify:track:%'
      THEN REPLACE(spotify_track_uri, 'spotify:track:', '')
    END AS track_id,
    COALESCE(track_name, episode_name, audiobook_chapter_title) AS track_name,
    COALESCE(artist_name, episode_show_name, audiobook_title) AS artist_name,
    album_name,
    reason_start,
    reason_end,
    platform,
    shuffle,
    skipped
  FROM streaming_history
  WHERE
    NOT ts IS NULL AND NOT user_id IS NULL
), api_records AS (
  SELECT
    user_id,
    'api' AS source,
    LOWER(
      TO_HEX(
        MD5(
          TO_UTF8(
            CONCAT(
              COALESCE(CAST(user_id AS VARCHAR), ''),
              COALESCE(CAST('|' AS VARCHAR), ''),
              COALESCE(
                CAST(DATE_DIFF(
                  'MILLISECOND',
                  DATE_TRUNC('MILLISECOND', CAST('1970-01-01 00:00:00+00:00' AS TIMESTAMP WITH TIME ZONE)),
                  DATE_TRUNC('MILLISECOND', played_at)
                ) AS VARCHAR),
                ''
              ),
              COALESCE(CAST('|' AS VARCHAR), ''),
              COALESCE(CAST(COALESCE(track_id, '') AS VARCHAR), '')
            )
          )
        )
      )
    ) AS source_record_id,
    played_at,
    1 AS ts_precision_s,
    duration_ms AS ms_played,
    'track' AS content_type,
    TRUE AS is_music,
    track_id,
    track_name,
    artist_name,
    album_name,
    CAST(NULL AS VARCHAR) AS reason_start,
    CAST(NULL AS VARCHAR) AS reason_end,
    CAST(NULL AS VARCHAR) AS platform,
    CAST(NULL AS BOOLEAN) AS shuffle,
    CAST(NULL AS BOOLEAN) AS skipped
  FROM listening_history
  WHERE
    NOT played_at IS NULL AND NOT user_id IS NULL
), raw_records /* every record with its own track key, artist and title: trimmed, lower-cased, whitespace */ /* runs collapsed to one space (the regular expression only runs on names that hold a */ /* run or a tab, newline, form feed or carriage return, what \s matches). Computed here, */ /* in the CTE DuckDB materialises, it runs once per record; computed in named_records, */ /* which three steps read, it ran once per reader (a fifth of the query's CPU) */ AS (
  SELECT
    *,
    CONCAT(
      COALESCE(
        CAST(LOWER(
          TRIM(
            CASE
              WHEN STRPOS(COALESCE(artist_name, ''), '  ') > 0
              OR STRPOS(COALESCE(artist_name, ''), CHR(  9)) > 0
              OR STRPOS(COALESCE(artist_name, ''), CHR(  10)) > 0
              OR STRPOS(COALESCE(artist_name, ''), CHR(  12)) > 0
              OR STRPOS(COALESCE(artist_name, ''), CHR(  13)) > 0
              THEN REGEXP_REPLACE(COALESCE(artist_name, ''), '\s+', ' ', 'g')
              ELSE COALESCE(artist_name, '')
            END
          )
        ) AS VARCHAR),
        ''
      ),
      COALESCE(CAST('|' AS VARCHAR), ''),
      COALESCE(
        CAST(LOWER(
          TRIM(
            CASE
              WHEN STRPOS(COALESCE(track_name, ''), '  ') > 0
              OR STRPOS(COALESCE(track_name, ''), CHR(  9)) > 0
              OR STRPOS(COALESCE(track_name, ''), CHR(  10)) > 0
              OR STRPOS(COALESCE(track_name, ''), CHR(  12)) > 0
              OR STRPOS(COALESCE(track_name, ''), CHR(  13)) > 0
              THEN REGEXP_REPLACE(COALESCE(track_name, ''), '\s+', ' ', 'g')
              ELSE COALESCE(track_name, '')
            END
          )
        ) AS VARCHAR),
        ''
      )
    ) AS own_track_key
  FROM (
    SELECT
      *
    FROM export_records
    UNION ALL
    SELECT
      *
    FROM api_records
  ) AS records
), record_stamps /* who played when, from the user and time columns only (for routing and time zones) */ AS (
  SELECT
    user_id,
    CASE
      WHEN record_format = 'extended'
      THEN 'extended_export'
      ELSE 'account_export'
    END AS source,
    ts AS played_at
  FROM streaming_history_bronze
  WHERE
    NOT ts IS NULL AND NOT user_id IS NULL
  UNION ALL
  SELECT
    user_id,
    'api' AS source,
    played_at
  FROM listening_history_bronze
  WHERE
    NOT played_at IS NULL AND NOT user_id IS NULL
), padded_records AS (
  SELECT
    *,
    CASE source WHEN 'extended_export' THEN 3 WHEN 'api' THEN 2 ELSE 1 END AS source_rank
  FROM raw_records
), named_records AS (
  SELECT
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
  FROM padded_records
), respelled_ids /* one name per Spotify track id and user, so the user's API and export plays of a */ /* track share a key; only ids the user's records spell in more than one way need a */ /* choice (the others keep their one name) */ AS (
  SELECT
    user_id,
    track_id
  FROM named_records
  WHERE
    NOT track_id IS NULL
  GROUP BY
    user_id,
    track_id
  HAVING
    MIN(own_track_key) <> MAX(own_track_key)
), id_names AS (
  SELECT
    named_records.user_id,
    named_records.track_id,
    named_records.own_track_key,
    MAX(named_records.source_rank) AS best_rank,
    COUNT(*) AS n_records
  FROM named_records
  INNER JOIN respelled_ids
    ON respelled_ids.user_id = named_records.user_id
    AND respelled_ids.track_id = named_records.track_id
  WHERE
    named_records.own_track_key <> '|'
  GROUP BY
    named_records.user_id,
    named_records.track_id,
    named_records.own_track_key
), canonical_names AS (
  SELECT
    user_id,
    track_id,
    own_track_key AS canonical_track_key,
    ROW_NUMBER() OVER (
      PARTITION BY user_id, track_id
      ORDER BY best_rank DESC, n_records DESC, own_track_key
    ) AS name_rank
  FROM id_names
), keyed_records AS (
  SELECT
    named_records.*,
    COALESCE(canonical_names.canonical_track_key, named_records.own_track_key) AS track_key
  FROM named_records
  LEFT JOIN canonical_names
    ON canonical_names.user_id = named_records.user_id
    AND canonical_names.track_id = named_records.track_id
    AND canonical_names.name_rank = 1
), mixed_users /* records that can merge with another: all of a user with several sources, and those */ /* sharing user and end time with another record (copies, or a second play); found on */ /* the user and time columns alone */ AS (
  SELECT
    user_id
  FROM record_stamps
  GROUP BY
    user_id
  HAVING
    COUNT(DISTINCT source) > 1
), shared_end_times AS (
  SELECT
    user_id,
    played_at
  FROM record_stamps
  GROUP BY
    user_id,
    played_at
  HAVING
    COUNT(*) > 1
), routed_records AS (
  SELECT
    keyed_records.*,
    NOT mixed_users.user_id IS NULL OR NOT shared_end_times.user_id IS NULL AS may_merge
  FROM keyed_records
  LEFT JOIN mixed_users
    ON mixed_users.user_id = keyed_records.user_id
  LEFT JOIN shared_end_times
    ON shared_end_times.user_id = keyed_records.user_id
    AND shared_end_times.played_at = keyed_records.played_at
), merge_records AS (
  SELECT
    *
  FROM routed_records
  WHERE
    may_merge
), counted_records /* the same record stored twice (overlapping exports, a re-import) is one record */ AS (
  SELECT
    *,
    COUNT(*) OVER (PARTITION BY user_id, source, played_at, track_key, ms_played) AS n_copies,
    ROW_NUMBER() OVER (
      PARTITION BY user_id, source, played_at, track_key, ms_played
      ORDER BY source_record_id
    ) AS copy_no
  FROM merge_records
), distinct_records AS (
  SELECT
    counted_records.*,
    CONCAT(
      COALESCE(CAST(counted_records.source AS VARCHAR), ''),
      COALESCE(CAST(':' AS VARCHAR), ''),
      COALESCE(CAST(counted_records.user_id AS VARCHAR), ''),
      COALESCE(CAST(':' AS VARCHAR), ''),
      COALESCE(CAST(counted_records.source_record_id AS VARCHAR), '')
    ) AS record_key, /* record ids are unique per user only */
    1000 * CASE
      WHEN counted_records.ts_precision_s >= 60
      THEN params.dedupe_tolerance_minute_precision_s
      ELSE params.dedupe_tolerance_s
    END AS tolerance_ms,
    CAST(FLOOR(
      CAST(DATE_DIFF(
        'MILLISECOND',
        DATE_TRUNC('MILLISECOND', CAST('1970-01-01 00:00:00+00:00' AS TIMESTAMP WITH TIME ZONE)),
        DATE_TRUNC('MILLISECOND', counted_records.played_at)
      ) AS DOUBLE) / (
        1000.0 * GREATEST(params.dedupe_tolerance_s, params.dedupe_tolerance_minute_precision_s, 1)
      )
    ) AS BIGINT) AS time_bucket /* time buckets as wide as the largest tolerance: a record's partners within the */ /* tolerance lie in its own or a neighbouring bucket (keeps the joins small when a */ /* user played one track thousands of times) */
  FROM counted_records
  CROSS JOIN params
  WHERE
    counted_records.copy_no = 1
), bucket_offsets AS (
  SELECT
    *
  FROM (VALUES
    (-1),
    (0),
    (1)) AS offsets(bucket_offset)
), extended_records AS (
  SELECT
    *
  FROM distinct_records
  WHERE
    source = 'extended_export'
), api_only_records AS (
  SELECT
    *
  FROM distinct_records
  WHERE
    source = 'api'
), account_records AS (
  SELECT
    *
  FROM distinct_records
  WHERE
    source = 'account_export'
), api_probes AS (
  SELECT
    api_only_records.*,
    api_only_records.time_bucket + bucket_offsets.bucket_offset AS probe_bucket
  FROM api_only_records
  CROSS JOIN bucket_offsets
), account_probes AS (
  SELECT
    account_records.*,
    account_records.time_bucket + bucket_offsets.bucket_offset AS probe_bucket
  FROM account_records
  CROSS JOIN bucket_offsets
), api_candidates /* round 1: API records onto extended-export records */ AS (
  SELECT
    extended_records.record_key AS play_key,
    api_probes.record_key AS other_key,
    ABS(
      DATE_DIFF(
        'MILLISECOND',
        DATE_TRUNC('MILLISECOND', extended_records.played_at),
        DATE_TRUNC('MILLISECOND', api_probes.played_at)
      )
    ) AS distance_ms,
    CASE WHEN extended_records.ms_played = api_probes.ms_played THEN 0 ELSE 1 END AS ms_differs
  FROM extended_records
  INNER JOIN api_probes
    ON api_probes.user_id = extended_records.user_id
    AND api_probes.track_key = extended_records.track_key
    AND api_probes.probe_bucket = extended_records.time_bucket
  WHERE
    ABS(
      DATE_DIFF(
        'MILLISECOND',
        DATE_TRUNC('MILLISECOND', extended_records.played_at),
        DATE_TRUNC('MILLISECOND', api_probes.played_at)
      )
    ) <= GREATEST(extended_records.tolerance_ms, api_probes.tolerance_ms)
), api_ranked AS (
  SELECT
    *,
    ROW_NUMBER() OVER (PARTITION BY play_key ORDER BY ms_differs, distance_ms, other_key) AS rank_for_play,
    ROW_NUMBER() OVER (PARTITION BY other_key ORDER BY ms_differs, distance_ms, play_key) AS rank_for_other
  FROM api_candidates
), api_pairs AS (
  SELECT
    play_key,
    other_key
  FROM api_ranked
  WHERE
    rank_for_play = 1 AND rank_for_other = 1
), round1_plays AS (
  SELECT
    record_key AS play_key,
    user_id,
    track_key,
    own_track_key,
    played_at,
    tolerance_ms,
    time_bucket,
    ms_played
  FROM extended_records
  UNION ALL
  SELECT
    record_key AS play_key,
    user_id,
    track_key,
    own_track_key,
    played_at,
    tolerance_ms,
    time_bucket,
    ms_played
  FROM api_only_records
  WHERE
    NOT record_key IN (
      SELECT
        other_key
      FROM api_pairs
    )
), account_name_pairs /* round 2: account-data records onto the plays of round 1, by the play's key or by */ /* the names its own record carried (a track's names change between exports) */ AS (
  SELECT
    round1_plays.play_key,
    account_probes.record_key AS other_key
  FROM round1_plays
  INNER JOIN account_probes
    ON account_probes.user_id = round1_plays.user_id
    AND account_probes.track_key = round1_plays.track_key
    AND account_probes.probe_bucket = round1_plays.time_bucket
  WHERE
    ABS(
      DATE_DIFF(
        'MILLISECOND',
        DATE_TRUNC('MILLISECOND', round1_plays.played_at),
        DATE_TRUNC('MILLISECOND', account_probes.played_at)
      )
    ) <= GREATEST(round1_plays.tolerance_ms, account_probes.tolerance_ms)
  UNION
  SELECT
    round1_plays.play_key,
    account_probes.record_key AS other_key
  FROM round1_plays
  INNER JOIN account_probes
    ON account_probes.user_id = round1_plays.user_id
    AND account_probes.own_track_key = round1_plays.own_track_key
    AND account_probes.probe_bucket = round1_plays.time_bucket
  WHERE
    ABS(
      DATE_DIFF(
        'MILLISECOND',
        DATE_TRUNC('MILLISECOND', round1_plays.played_at),
        DATE_TRUNC('MILLISECOND', account_probes.played_at)
      )
    ) <= GREATEST(round1_plays.tolerance_ms, account_probes.tolerance_ms)
), account_candidates AS (
  SELECT
    round1_plays.play_key,
    account_records.record_key AS other_key,
    GREATEST(
      DATE_DIFF(
        'MILLISECOND',
        DATE_TRUNC('MILLISECOND', round1_plays.played_at),
        DATE_TRUNC('MILLISECOND', account_records.played_at)
      ),
      DATE_DIFF(
        'MILLISECOND',
        DATE_TRUNC('MILLISECOND', account_records.played_at),
        DATE_TRUNC('MILLISECOND', round1_plays.played_at)
      ) - 1000 * (
        account_records.ts_precision_s - 1
      ),
      0
    ) AS distance_ms, /* a minute-precision time stands for its whole minute: distance to that interval */
    CASE WHEN round1_plays.ms_played = account_records.ms_played THEN 0 ELSE 1 END AS ms_differs
  FROM account_name_pairs
  INNER JOIN round1_plays
    ON round1_plays.play_key = account_name_pairs.play_key
  INNER JOIN account_records
    ON account_records.record_key = account_name_pairs.other_key
), account_ranked AS (
  SELECT
    *,
    ROW_NUMBER() OVER (PARTITION BY play_key ORDER BY ms_differs, distance_ms, other_key) AS rank_for_play,
    ROW_NUMBER() OVER (PARTITION BY other_key ORDER BY ms_differs, distance_ms, play_key) AS rank_for_other
  FROM account_candidates
), account_pairs AS (
  SELECT
    play_key,
    other_key
  FROM account_ranked
  WHERE
    rank_for_play = 1 AND rank_for_other = 1
), members AS (
  SELECT
    play_key,
    play_key AS record_key
  FROM round1_plays
  UNION ALL
  SELECT
    play_key,
    other_key AS record_key
  FROM api_pairs
  UNION ALL
  SELECT
    play_key,
    other_key AS record_key
  FROM account_pairs
  UNION ALL
  SELECT
    record_key AS play_key,
    record_key
  FROM account_records
  WHERE
    NOT record_key IN (
      SELECT
        other_key
      FROM account_pairs
    )
), merged AS (
  SELECT
    members.play_key,
    MAX(distinct_records.track_id) AS any_track_id,
    COALESCE(
      MAX(CASE WHEN distinct_records.source = 'extended_export' THEN ms_played END),
      MAX(CASE WHEN distinct_records.source = 'account_export' THEN ms_played END),
      MAX(distinct_records.ms_played)
    ) AS best_ms_played,
    CAST(SUM(distinct_records.n_copies) AS BIGINT) AS n_source_records
  FROM members
  INNER JOIN distinct_records
    ON distinct_records.record_key = members.record_key
  GROUP BY
    members.play_key
), unified AS (
  SELECT
    anchor.user_id,
    anchor.played_at,
    anchor.track_key,
    COALESCE(anchor.track_id, merged.any_track_id) AS track_id,
    anchor.track_name,
    anchor.artist_name,
    anchor.album_name,
    merged.best_ms_played AS ms_played,
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
  FROM merged
  INNER JOIN distinct_records AS anchor
    ON anchor.record_key = merged.play_key
), merged_plays /* a second play with the same user, end time and track (a source logged two) gets "|2" */ AS (
  SELECT
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
    ROW_NUMBER() OVER (
      PARTITION BY user_id, played_at, track_key
      ORDER BY source_rank DESC, ms_played DESC, record_key
    ) AS id_occurrence
  FROM unified
), merged_ids /* the play id hashes the user, the end time in epoch milliseconds (rounded down, as */ /* date_diff counts them), the track key and, from the second play on, its occurrence */ AS (
  SELECT
    LOWER(
      TO_HEX(
        MD5(
          TO_UTF8(
            CONCAT(
              COALESCE(CAST(user_id AS VARCHAR), ''),
              COALESCE(CAST('|' AS VARCHAR), ''),
              COALESCE(
                CAST(CAST(TRUNCATE(
                  CAST((
                    EPOCH_US(played_at) - (
                      EPOCH_US(played_at) % 1000 + 1000
                    ) % 1000
                  ) AS DOUBLE) / 1000
                ) AS BIGINT) AS VARCHAR),
                ''
              ),
              COALESCE(CAST('|' AS VARCHAR), ''),
              COALESCE(CAST(track_key AS VARCHAR), ''),
              COALESCE(
                CAST(CASE
                  WHEN id_occurrence > 1
                  THEN CONCAT(COALESCE(CAST('|' AS VARCHAR), ''), COALESCE(CAST(id_occurrence AS VARCHAR), ''))
                  ELSE ''
                END AS VARCHAR),
                ''
              )
            )
          )
        )
      )
    ) AS play_id,
    *
  FROM merged_plays
), single_plays /* a record alone at its end time, of a user with one source, is a play by itself */ AS (
  SELECT
    LOWER(
      TO_HEX(
        MD5(
          TO_UTF8(
            CONCAT(
              COALESCE(CAST(user_id AS VARCHAR), ''),
              COALESCE(CAST('|' AS VARCHAR), ''),
              COALESCE(
                CAST(CAST(TRUNCATE(
                  CAST((
                    EPOCH_US(played_at) - (
                      EPOCH_US(played_at) % 1000 + 1000
                    ) % 1000
                  ) AS DOUBLE) / 1000
                ) AS BIGINT) AS VARCHAR),
                ''
              ),
              COALESCE(CAST('|' AS VARCHAR), ''),
              COALESCE(CAST(track_key AS VARCHAR), '')
            )
          )
        )
      )
    ) AS play_id,
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
    CAST(1 AS BIGINT) AS n_source_records
  FROM routed_records
  WHERE
    NOT may_merge
), timed AS (
  SELECT
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
  FROM merged_ids
  UNION ALL
  SELECT
    *
  FROM single_plays
), zone_hours /* each zone's UTC offset at the start and the end of every hour with records */ AS (
  SELECT
    COALESCE(user_zones.timezone, 'UTC') AS timezone,
    CAST(FLOOR(CAST(EPOCH_US(record_stamps.played_at) AS DOUBLE) / 3600000000.0) AS BIGINT) AS hour_no
  FROM record_stamps
  LEFT JOIN user_zones
    ON user_zones.user_id = record_stamps.user_id
  GROUP BY
    1,
    2
  /* always true: it tells DuckDB's planner this table is smaller than the plays, so */
  /* the join below builds its hash table on the zone hours, not on every play */
  HAVING
    COUNT(*) > 0
), zone_offsets AS (
  SELECT
    timezone,
    hour_no,
    DATE_DIFF(
      'MICROSECOND',
      DATE_TRUNC('MICROSECOND', AT_TIMEZONE(FROM_UNIXTIME(hour_no * 3600), 'UTC')),
      DATE_TRUNC('MICROSECOND', AT_TIMEZONE(FROM_UNIXTIME(hour_no * 3600), timezone))
    ) AS offset_us,
    DATE_DIFF(
      'MICROSECOND',
      DATE_TRUNC('MICROSECOND', AT_TIMEZONE(FROM_UNIXTIME(hour_no * 3600 + 3600), 'UTC')),
      DATE_TRUNC('MICROSECOND', AT_TIMEZONE(FROM_UNIXTIME(hour_no * 3600 + 3600), timezone))
    ) AS next_offset_us
  FROM zone_hours
), play_clock /* sessions and zones are worked out on the few columns they need and joined back to the */ /* plays by id (a window over whole plays sorts every column, and the plays would be the */ /* join's build side): a single play's id again, then the merged plays' */ AS (
  SELECT
    LOWER(
      TO_HEX(
        MD5(
          TO_UTF8(
            CONCAT(
              COALESCE(CAST(user_id AS VARCHAR), ''),
              COALESCE(CAST('|' AS VARCHAR), ''),
              COALESCE(
                CAST(CAST(TRUNCATE(
                  CAST((
                    EPOCH_US(played_at) - (
                      EPOCH_US(played_at) % 1000 + 1000
                    ) % 1000
                  ) AS DOUBLE) / 1000
                ) AS BIGINT) AS VARCHAR),
                ''
              ),
              COALESCE(CAST('|' AS VARCHAR), ''),
              COALESCE(CAST(track_key AS VARCHAR), '')
            )
          )
        )
      )
    ) AS play_id,
    user_id,
    played_at,
    ms_played
  FROM routed_records
  WHERE
    NOT may_merge
  UNION ALL
  SELECT
    play_id,
    user_id,
    played_at,
    ms_played
  FROM merged_ids
), play_ends AS (
  SELECT
    *,
    CAST(TRUNCATE(
      CAST((
        EPOCH_US(played_at) - (
          EPOCH_US(played_at) % 1000 + 1000
        ) % 1000
      ) /* epoch milliseconds rounded down, as date_diff counts them */ AS DOUBLE) / 1000
    ) AS BIGINT) AS played_ms
  FROM play_clock
), session_steps /* a new session starts when this play began more than the gap after the previous play */ /* ended */ AS (
  SELECT
    *,
    LAG(played_ms) OVER (PARTITION BY user_id ORDER BY played_at, play_id) AS previous_end_ms,
    ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY played_at, play_id) AS play_no
  FROM play_ends
), session_starts AS (
  SELECT
    *,
    CASE
      WHEN previous_end_ms IS NULL
      THEN 1
      WHEN played_ms - COALESCE(ms_played, 0) - previous_end_ms > 60000 * (
        SELECT
          session_gap_minutes
        FROM params
      )
      THEN 1
      ELSE 0
    END AS starts_session
  FROM session_steps
), sessions AS (
  SELECT
    play_id,
    user_id,
    played_at,
    LAST_VALUE(CASE WHEN starts_session = 1 THEN play_id END) IGNORE NULLS OVER (
      PARTITION BY user_id
      ORDER BY play_no
      rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
    ) AS session_id,
    play_no - MAX(CASE WHEN starts_session = 1 THEN play_no END) OVER (
      PARTITION BY user_id
      ORDER BY play_no
      rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
    ) + 1 AS session_play_no
  FROM session_starts
), play_zones /* each play's zone and that zone's offsets in the play's hour */ AS (
  SELECT
    sessions.play_id,
    sessions.played_at,
    sessions.session_id,
    sessions.session_play_no,
    COALESCE(user_zones.timezone, 'UTC') AS timezone,
    zone_offsets.offset_us,
    zone_offsets.next_offset_us
  FROM sessions
  LEFT JOIN user_zones
    ON user_zones.user_id = sessions.user_id
  INNER JOIN zone_offsets
    ON zone_offsets.timezone = COALESCE(user_zones.timezone, 'UTC')
    AND zone_offsets.hour_no = CAST(FLOOR(CAST(EPOCH_US(sessions.played_at) AS DOUBLE) / 3600000000.0) AS BIGINT)
), localized /* the local time adds the zone's offset, unless the offset changes within the hour */ AS (
  SELECT
    timed.*,
    timed.played_at - COALESCE(timed.ms_played, 0) * INTERVAL '1' MILLISECOND AS started_at,
    play_zones.timezone,
    CASE
      WHEN play_zones.offset_us = play_zones.next_offset_us
      THEN FROM_UNIXTIME(CAST(EPOCH_US(timed.played_at) + play_zones.offset_us AS DOUBLE) / POW(10, 6))
      ELSE AT_TIMEZONE(timed.played_at, play_zones.timezone)
    END AS played_at_local,
    play_zones.session_id,
    play_zones.session_play_no,
    COALESCE(timed.ms_played < (
      SELECT
        skip_threshold_ms
      FROM params
    ), FALSE) AS is_skip
  FROM timed
  /* (play_id, played_at) is unique even where two plays within one millisecond share a */
  /* play_id */
  INNER JOIN play_zones
    ON play_zones.play_id = timed.play_id AND play_zones.played_at = timed.played_at
), calendar /* ISO weekday from the days since Monday 2024-01-01 (portable across engines) */ AS (
  SELECT
    *,
    CAST(played_at_local AS DATE) AS local_date,
    (
      DATE_DIFF(
        'DAY',
        DATE_TRUNC('DAY', CAST('2024-01-01' AS DATE)),
        DATE_TRUNC('DAY', CAST(played_at_local AS DATE))
      ) % 7 + 7
    ) % 7 + 1 AS iso_day,
    CAST(EXTRACT(HOUR FROM played_at_local) AS INTEGER) AS local_hour
  FROM localized
), final AS (
  SELECT
    play_id,
    user_id,
    played_at,
    started_at,
    timezone,
    played_at_local,
    local_date AS date,
    CAST(EXTRACT(YEAR FROM played_at_local) AS INTEGER) AS year,
    CAST(EXTRACT(MONTH FROM played_at_local) AS INTEGER) AS month,
    local_hour AS hour_of_day,
    CAST(iso_day AS INTEGER) AS day_of_week,
    CASE iso_day
      WHEN 1
      THEN 'Monday'
      WHEN 2
      THEN 'Tuesday'
      WHEN 3
      THEN 'Wednesday'
      WHEN 4
      THEN 'Thursday'
      WHEN 5
      THEN 'Friday'
      WHEN 6
      THEN 'Saturday'
      ELSE 'Sunday'
    END AS day_name,
    iso_day >= 6 AS is_weekend,
    CASE
      WHEN local_hour BETWEEN 6 AND 11
      THEN 'morning'
      WHEN local_hour BETWEEN 12 AND 17
      THEN 'afternoon'
      WHEN local_hour BETWEEN 18 AND 22
      THEN 'evening'
      ELSE 'night'
    END AS part_of_day,
    session_id,
    CAST(session_play_no AS INTEGER) AS session_play_no,
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
    CAST(ts_precision_s AS INTEGER) AS ts_precision_s,
    reason_start,
    reason_end,
    platform,
    shuffle,
    skipped,
    n_source_records
  FROM calendar
)
SELECT
  *
FROM final
