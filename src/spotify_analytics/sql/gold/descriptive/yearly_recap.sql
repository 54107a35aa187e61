-- A Wrapped-style summary per user and local calendar year: minutes, plays,
-- distinct tracks and artists, top 5 tracks/artists/genres (as ordered lists),
-- mood profile (share of non-skipped plays with trusted features per quadrant;
-- NULL without such plays), busiest hour, longest session, longest streak of
-- consecutive days with music.
-- The plays are read twice: counted per user, year, track, artist spelling
-- and genre list (every count below adds those up), and per user, year, date
-- and hour.
with listening as (
    select * from listening_with_features
),

-- DuckDB materialises a CTE that is read more than once (here: every play,
-- spilled at scale), so the second count scans the plays through its own
-- import and reads only the columns it needs
listening_for_hours as (
    select * from listening_with_features
),

sessions as (
    select * from listening_sessions
),

params as (
    select allow_synthetic from run_params
),

flagged as (
    select
        l.*,
        l.valence is not null
        and not l.is_skip
        and (coalesce(l.feature_source, '') <> 'synthetic' or p.allow_synthetic) as is_mood_play
    from listening as l
    cross join params as p
    where l.is_music
),

track_plays as (
    -- music plays per user, year, track, artist spelling and genre list
    select
        f.user_id,
        f.year,
        f.track_key,
        f.artist_name,
        f.genres,
        min(f.track_name) as track_name,
        count(*) as plays,
        count(*) filter (where f.is_skip) as skips,
        sum(f.ms_played) as ms_played,
        count(*) filter (where f.is_mood_play) as n_feature_plays,
        count(*) filter (where f.is_mood_play and f.mood_quadrant = 'happy-energetic')
            as happy_energetic,
        count(*) filter (where f.is_mood_play and f.mood_quadrant = 'happy-calm') as happy_calm,
        count(*) filter (where f.is_mood_play and f.mood_quadrant = 'sad-energetic')
            as sad_energetic,
        count(*) filter (where f.is_mood_play and f.mood_quadrant = 'sad-calm') as sad_calm,
        count(*) filter (where f.is_mood_play and f.mood_quadrant = 'neutral') as neutral
    from flagged as f
    group by f.user_id, f.year, f.track_key, f.artist_name, f.genres
),

totals as (
    select
        t.user_id,
        t.year,
        cast(sum(t.plays) as bigint) as plays,
        cast(sum(t.skips) as bigint) as skips,
        cast(sum(t.ms_played) as double) / 60000.0 as minutes,
        cast(count(distinct t.track_key) as bigint) as distinct_tracks,
        cast(count(distinct t.artist_name) as bigint) as distinct_artists,
        cast(sum(t.n_feature_plays) as bigint) as n_feature_plays,
        sum(t.happy_energetic) as happy_energetic,
        sum(t.happy_calm) as happy_calm,
        sum(t.sad_energetic) as sad_energetic,
        sum(t.sad_calm) as sad_calm,
        sum(t.neutral) as neutral
    from track_plays as t
    group by t.user_id, t.year
),

track_counts as (
    select
        t.user_id,
        t.year,
        t.track_key,
        concat_ws(' - ', min(t.track_name), min(t.artist_name)) as label,
        sum(t.plays) as plays,
        sum(t.ms_played) as ms_played
    from track_plays as t
    group by t.user_id, t.year, t.track_key
),

artist_counts as (
    select
        t.user_id,
        t.year,
        t.artist_name as label,
        sum(t.plays) as plays,
        sum(t.ms_played) as ms_played
    from track_plays as t
    where t.artist_name is not null
    group by t.user_id, t.year, t.artist_name
),

genre_plays as (
    select
        t.user_id,
        t.year,
        unnest(t.genres) as genre,
        t.plays,
        t.ms_played
    from track_plays as t
),

genre_counts as (
    select
        g.user_id,
        g.year,
        g.genre as label,
        sum(g.plays) as plays,
        sum(g.ms_played) as ms_played
    from genre_plays as g
    where g.genre is not null
    group by g.user_id, g.year, g.genre
),

hour_plays as (
    -- music plays per user, year, local date and hour
    select
        f.user_id,
        f.year,
        f.date,
        f.hour_of_day,
        count(*) as plays
    from listening_for_hours as f
    where f.is_music
    group by f.user_id, f.year, f.date, f.hour_of_day
),

track_cutoffs as (
    -- the plays of the 5th most played track per user and year: only tracks
    -- played at least that often can make the top 5 (users with fewer tracks
    -- have no cutoff), so only those are sorted
    select
        c.user_id,
        c.year,
        max(c.plays) as min_plays
    from (
        select
            t.user_id,
            t.year,
            t.plays,
            sum(count(*)) over (
                partition by t.user_id, t.year
                order by t.plays desc
                rows between unbounded preceding and current row
            ) as items_at_or_above
        from track_counts as t
        group by t.user_id, t.year, t.plays
    ) as c
    where c.items_at_or_above >= 5
    group by c.user_id, c.year
),

artist_cutoffs as (
    -- the same for artists
    select
        c.user_id,
        c.year,
        max(c.plays) as min_plays
    from (
        select
            a.user_id,
            a.year,
            a.plays,
            sum(count(*)) over (
                partition by a.user_id, a.year
                order by a.plays desc
                rows between unbounded preceding and current row
            ) as items_at_or_above
        from artist_counts as a
        group by a.user_id, a.year, a.plays
    ) as c
    where c.items_at_or_above >= 5
    group by c.user_id, c.year
),

ranked_items as (
    select
        'track' as kind,
        t.user_id,
        t.year,
        t.label,
        row_number() over (
            partition by t.user_id, t.year
            order by t.plays desc, t.ms_played desc, t.track_key asc
        ) as item_rank
    from track_counts as t
    left join track_cutoffs as c
        on t.user_id = c.user_id and t.year = c.year
    where t.plays >= coalesce(c.min_plays, 0)
    union all
    select
        'artist' as kind,
        a.user_id,
        a.year,
        a.label,
        row_number() over (
            partition by a.user_id, a.year
            order by a.plays desc, a.ms_played desc, a.label asc
        ) as item_rank
    from artist_counts as a
    left join artist_cutoffs as c
        on a.user_id = c.user_id and a.year = c.year
    where a.plays >= coalesce(c.min_plays, 0)
    union all
    select
        'genre' as kind,
        g.user_id,
        g.year,
        g.label,
        row_number() over (
            partition by g.user_id, g.year
            order by g.plays desc, g.ms_played desc, g.label asc
        ) as item_rank
    from genre_counts as g
),

top_lists as (
    select
        r.user_id,
        r.year,
        r.kind,
        list_filter(
            [
                max(case when r.item_rank = 1 then r.label end),
                max(case when r.item_rank = 2 then r.label end),
                max(case when r.item_rank = 3 then r.label end),
                max(case when r.item_rank = 4 then r.label end),
                max(case when r.item_rank = 5 then r.label end)
            ],
            lambda x: x is not null
        ) as items
    from ranked_items as r
    where r.item_rank <= 5
    group by r.user_id, r.year, r.kind
),

hour_counts as (
    select
        h.user_id,
        h.year,
        h.hour_of_day,
        row_number() over (
            partition by h.user_id, h.year
            order by sum(h.plays) desc, h.hour_of_day asc
        ) as hour_rank
    from hour_plays as h
    group by h.user_id, h.year, h.hour_of_day
),

longest_sessions as (
    select
        s.user_id,
        year(s.session_start_local) as year,
        max(s.minutes) as longest_session_minutes
    from sessions as s
    group by s.user_id, year(s.session_start_local)
),

listening_days as (
    select distinct
        h.user_id,
        h.year,
        h.date
    from hour_plays as h
),

streak_groups as (
    select
        d.user_id,
        d.year,
        datediff('day', date '1970-01-01', d.date)
        - row_number() over (partition by d.user_id, d.year order by d.date) as streak_group
    from listening_days as d
),

streaks as (
    select
        sg.user_id,
        sg.year,
        cast(max(sg.days) as bigint) as longest_streak_days
    from (
        select
            g.user_id,
            g.year,
            count(*) as days
        from streak_groups as g
        group by g.user_id, g.year, g.streak_group
    ) as sg
    group by sg.user_id, sg.year
),

final as (
    select
        t.user_id,
        t.year,
        t.plays,
        t.skips,
        t.minutes,
        t.distinct_tracks,
        t.distinct_artists,
        tt.items as top_tracks,
        ta.items as top_artists,
        tg.items as top_genres,
        t.n_feature_plays,
        case when t.n_feature_plays > 0 then cast(t.happy_energetic as double) / t.n_feature_plays end
            as share_happy_energetic,
        case when t.n_feature_plays > 0 then cast(t.happy_calm as double) / t.n_feature_plays end
            as share_happy_calm,
        case when t.n_feature_plays > 0 then cast(t.sad_energetic as double) / t.n_feature_plays end
            as share_sad_energetic,
        case when t.n_feature_plays > 0 then cast(t.sad_calm as double) / t.n_feature_plays end
            as share_sad_calm,
        case when t.n_feature_plays > 0 then cast(t.neutral as double) / t.n_feature_plays end
            as share_neutral,
        h.hour_of_day as busiest_hour,
        ls.longest_session_minutes,
        st.longest_streak_days
    from totals as t
    left join top_lists as tt on t.user_id = tt.user_id and t.year = tt.year and tt.kind = 'track'
    left join top_lists as ta on t.user_id = ta.user_id and t.year = ta.year and ta.kind = 'artist'
    left join top_lists as tg on t.user_id = tg.user_id and t.year = tg.year and tg.kind = 'genre'
    left join hour_counts as h on t.user_id = h.user_id and t.year = h.year and h.hour_rank = 1
    left join longest_sessions as ls on t.user_id = ls.user_id and t.year = ls.year
    left join streaks as st on t.user_id = st.user_id and t.year = st.year
)

select * from final
