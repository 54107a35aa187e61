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
), raw_records AS (
  SELECT
    *
  FROM export_records
  UNION ALL
  SELECT
    *
  FROM api_records
), named_records AS (
  SELECT
    *,
    CASE source WHEN 'extended_export' THEN 3 WHEN 'api' THEN 2 ELSE 1 END AS source_rank,
    CONCAT(
      COALESCE(
        CAST(LOWER(TRIM(REGEXP_REPLACE(COALESCE(artist_name, ''), '\s+', ' ', 'g'))) AS VARCHAR),
        ''
      ),
      COALESCE(CAST('|' AS VARCHAR), ''),
      COALESCE(
        CAST(LOWER(TRIM(REGEXP_REPLACE(COALESCE(track_name, ''), '\s+', ' ', 'g'))) AS VARCHAR),
        ''
      )
    ) AS own_track_key
  FROM raw_records
), id_names /* one name per Spotify track id, so API and export plays of a track share a key */ AS (
  SELECT
    track_id,
    own_track_key,
    MAX(source_rank) AS best_rank,
    COUNT(*) AS n_records
  FROM named_records
  WHERE
    NOT track_id IS NULL AND own_track_key <> '|'
  GROUP BY
    track_id,
    own_track_key
), canonical_names AS (
  SELECT
    track_id,
    own_track_key AS canonical_track_key,
    ROW_NUMBER() OVER (PARTITION BY track_id ORDER BY best_rank DESC, n_records DESC, own_track_key) AS name_rank
  FROM id_names
), keyed_records AS (
  SELECT
    named_records.*,
    COALESCE(canonical_names.canonical_track_key, named_records.own_track_key) AS track_key
  FROM named_records
  LEFT JOIN canonical_names
    ON canonical_names.track_id = named_records.track_id
    AND canonical_names.name_rank = 1
), counted_records /* the same record stored twice (overlapping exports, a re-import) is one record */ AS (
  SELECT
    *,
    COUNT(*) OVER (PARTITION BY user_id, source, played_at, track_key, ms_played) AS n_copies,
    ROW_NUMBER() OVER (
      PARTITION BY user_id, source, played_at, track_key, ms_played
      ORDER BY source_record_id
    ) AS copy_no
  FROM keyed_records
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
), identified /* a second play with the same user, end time and track (a source logged two) gets "|2" */ AS (
  SELECT
    *,
    ROW_NUMBER() OVER (
      PARTITION BY user_id, played_at, track_key
      ORDER BY source_rank DESC, ms_played DESC, record_key
    ) AS id_occurrence
  FROM unified
), timed AS (
  SELECT
    LOWER(
      TO_HEX(
        MD5(
          TO_UTF8(
            CONCAT(
              COALESCE(CAST(identified.user_id AS VARCHAR), ''),
              COALESCE(CAST('|' AS VARCHAR), ''),
              COALESCE(
                CAST(DATE_DIFF(
                  'MILLISECOND',
                  DATE_TRUNC('MILLISECOND', CAST('1970-01-01 00:00:00+00:00' AS TIMESTAMP WITH TIME ZONE)),
                  DATE_TRUNC('MILLISECOND', identified.played_at)
                ) AS VARCHAR),
                ''
              ),
              COALESCE(CAST('|' AS VARCHAR), ''),
              COALESCE(CAST(identified.track_key AS VARCHAR), ''),
              COALESCE(
                CAST(CASE
                  WHEN identified.id_occurrence > 1
                  THEN CONCAT(
                    COALESCE(CAST('|' AS VARCHAR), ''),
                    COALESCE(CAST(identified.id_occurrence AS VARCHAR), '')
                  )
                  ELSE ''
                END AS VARCHAR),
                ''
              )
            )
          )
        )
      )
    ) AS play_id,
    identified.*,
    identified.played_at - COALESCE(identified.ms_played, 0) * INTERVAL '1' MILLISECOND AS started_at,
    COALESCE(user_zones.timezone, 'UTC') AS timezone,
    AT_TIMEZONE(identified.played_at, COALESCE(user_zones.timezone, 'UTC')) AS played_at_local
  FROM identified
  LEFT JOIN user_zones
    ON user_zones.user_id = identified.user_id
), sequenced /* a new session starts when this play began more than the gap after the previous play ended */ AS (
  SELECT
    timed.*,
    CASE
      WHEN LAG(played_at) OVER (PARTITION BY user_id ORDER BY played_at, play_id) IS NULL
      THEN 1
      WHEN DATE_DIFF(
        'MILLISECOND',
        DATE_TRUNC(
          'MILLISECOND',
          LAG(played_at) OVER (PARTITION BY user_id ORDER BY played_at, play_id)
        ),
        DATE_TRUNC('MILLISECOND', started_at)
      ) > 60000 * params.session_gap_minutes
      THEN 1
      ELSE 0
    END AS starts_session,
    COALESCE(ms_played < params.skip_threshold_ms, FALSE) AS is_skip
  FROM timed
  CROSS JOIN params
), sessions AS (
  SELECT
    *,
    SUM(starts_session) OVER (
      PARTITION BY user_id
      ORDER BY played_at, play_id
      rows BETWEEN UNBOUNDED preceding AND CURRENT ROW
    ) AS session_no
  FROM sequenced
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
  FROM sessions
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
    FIRST_VALUE(play_id) OVER (PARTITION BY user_id, session_no ORDER BY played_at, play_id) AS session_id,
    CAST(ROW_NUMBER() OVER (PARTITION BY user_id, session_no ORDER BY played_at, play_id) AS INTEGER) AS session_play_no,
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
