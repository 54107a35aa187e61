-- A Wrapped-style summary per user and local calendar year: minutes, plays,
-- distinct tracks and artists, top 5 tracks/artists/genres (as ordered lists),
-- mood profile (share of non-skipped plays with trusted features per quadrant;
-- NULL without such plays), busiest hour, longest session, longest streak of
-- consecutive days with music.
with listening as (
    select * from listening_with_features
),

-- DuckDB materialises a CTE that is read more than once (here: every play,
-- spilled at scale), so each count below scans the plays through its own
-- import and reads only the columns it needs
listening_for_tracks as (
    select * from listening_with_features
),

listening_for_artists as (
    select * from listening_with_features
),

listening_for_genres as (
    select * from listening_with_features
),

listening_for_hours as (
    select * from listening_with_features
),

listening_for_days as (
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

totals as (
    select
        f.user_id,
        f.year,
        cast(count(*) as bigint) as plays,
        cast(count(*) filter (where f.is_skip) as bigint) as skips,
        cast(sum(f.ms_played) as double) / 60000.0 as minutes,
        cast(count(distinct f.track_key) as bigint) as distinct_tracks,
        cast(count(distinct f.artist_name) as bigint) as distinct_artists,
        cast(count(*) filter (where f.is_mood_play) as bigint) as n_feature_plays,
        count(*) filter (where f.is_mood_play and f.mood_quadrant = 'happy-energetic')
            as happy_energetic,
        count(*) filter (where f.is_mood_play and f.mood_quadrant = 'happy-calm') as happy_calm,
        count(*) filter (where f.is_mood_play and f.mood_quadrant = 'sad-energetic')
            as sad_energetic,
        count(*) filter (where f.is_mood_play and f.mood_quadrant = 'sad-calm') as sad_calm,
        count(*) filter (where f.is_mood_play and f.mood_quadrant = 'neutral') as neutral
    from flagged as f
    group by f.user_id, f.year
),

track_counts as (
    select
        f.user_id,
        f.year,
        f.track_key,
        concat_ws(' - ', min(f.track_name), min(f.artist_name)) as label,
        count(*) as plays,
        sum(f.ms_played) as ms_played
    from listening_for_tracks as f
    where f.is_music
    group by f.user_id, f.year, f.track_key
),

artist_counts as (
    select
        f.user_id,
        f.year,
        f.artist_name as label,
        count(*) as plays,
        sum(f.ms_played) as ms_played
    from listening_for_artists as f
    where f.is_music
        and f.artist_name is not null
    group by f.user_id, f.year, f.artist_name
),

genre_plays as (
    select
        f.user_id,
        f.year,
        unnest(f.genres) as genre,
        f.ms_played
    from listening_for_genres as f
    where f.is_music
),

genre_counts as (
    select
        g.user_id,
        g.year,
        g.genre as label,
        count(*) as plays,
        sum(g.ms_played) as ms_played
    from genre_plays as g
    where g.genre is not null
    group by g.user_id, g.year, g.genre
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
            x -> x is not null
        ) as items
    from ranked_items as r
    where r.item_rank <= 5
    group by r.user_id, r.year, r.kind
),

hour_counts as (
    select
        f.user_id,
        f.year,
        f.hour_of_day,
        row_number() over (
            partition by f.user_id, f.year
            order by count(*) desc, f.hour_of_day asc
        ) as hour_rank
    from listening_for_hours as f
    where f.is_music
    group by f.user_id, f.year, f.hour_of_day
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
        f.user_id,
        f.year,
        f.date
    from listening_for_days as f
    where f.is_music
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
