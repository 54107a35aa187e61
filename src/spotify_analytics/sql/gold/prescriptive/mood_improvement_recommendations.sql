-- Tracks that lift this user's mood, per user, from two sources:
-- (a) history: tracks the user played right after a lower-valence play in the
--     same session (music plays that were not skipped, with features), ending
--     above the user's mean valence ("lift plays"), and whose mean valence is
--     at least the user's mean; ranked by how often they lifted valence, then
--     by the mean lift, then track_key. Top 10.
-- (b) catalog: catalog tracks the user never played, in the user's top 3
--     genres (by plays), with valence above the user's mean, nearest to the
--     user's mood-lift profile (the mean features of the lift plays; of the
--     plays above the user's mean valence when there are none) by
--     Euclidean distance over the nine audio features z-scored with the
--     catalog's mean and std (ties: popularity, then track_id). Top 10.
--     Users without genres get none.
-- A play's features, feature_source and genres are its track_key's (Silver
-- joins them on track_key), so the plays are read as one row per user and
-- track (user_track_features, and user_track_plays for the names and the
-- heard tracks); the mean valence and the profiles are play-weighted means
-- over those rows. Only the session order needs the plays themselves, and
-- that window carries narrow rows. DuckDB materialises a CTE that is read
-- more than once, so each use of a table has its own import.
with track_rows as (
    select * from user_track_features
),

track_spellings as (
    select * from user_track_plays
),

listening_for_sequence as (
    select * from listening_with_features
),

heard_tracks as (
    select * from user_track_features
),

heard_spellings as (
    select * from user_track_plays
),

catalog as (
    select * from catalog_tracks
),

params as (
    select * from run_params
),

user_tracks as (
    -- per user and track over the feature plays (music, not skipped, trusted
    -- features): a play's features and genres are its track's
    select
        t.user_id,
        t.track_key,
        t.genres,
        t.n_plays - t.n_skips as plays,
        t.danceability,
        t.energy,
        t.loudness,
        t.speechiness,
        t.acousticness,
        t.instrumentalness,
        t.liveness,
        t.valence,
        t.tempo
    from track_rows as t
    cross join params as p
    where t.n_plays > t.n_skips
        and t.valence is not null
        and (coalesce(t.feature_source, '') <> 'synthetic' or p.allow_synthetic)
),

user_mood as (
    -- the user's mean valence over the feature plays
    select
        h.user_id,
        sum(h.plays * h.valence) / sum(h.plays) as user_mean_valence,
        cast(sum(h.plays) as bigint) as n_feature_plays
    from user_tracks as h
    group by h.user_id
),

sequenced as (
    -- the previous music play (not skipped) in the session and its trusted
    -- valence (null: no usable features); session_play_no orders a session by
    -- played_at, then play_id
    select
        m.user_id,
        m.track_key,
        m.valence,
        -- the previous play in the user's order by played_at and session_play_no
        -- is the previous one in the session when it has the same session_id
        -- (sessions follow one another; one sort per user, not per session)
        case when lag(m.session_id) over (
            partition by m.user_id order by m.played_at, m.session_play_no
        ) = m.session_id then lag(m.valence) over (
            partition by m.user_id order by m.played_at, m.session_play_no
        ) end as prev_valence
    from (
        select
            l.user_id,
            l.session_id,
            l.played_at,
            l.session_play_no,
            l.track_key,
            case
                when coalesce(l.feature_source, '') <> 'synthetic' or p.allow_synthetic
                    then l.valence
            end as valence
        from listening_for_sequence as l
        cross join params as p
        where coalesce(l.is_music, false)
            and not coalesce(l.is_skip, false)
            and l.user_id is not null
            and l.session_id is not null
    ) as m
),

track_lifts as (
    -- lift plays: valence higher than the previous play's in its session and
    -- above the user's mean (the mood went up, and into the better half)
    select
        s.user_id,
        s.track_key,
        cast(count(*) as bigint) as lift_plays,
        avg(s.valence - s.prev_valence) as mean_valence_lift
    from sequenced as s
    inner join user_mood as u
        on s.user_id = u.user_id
    where s.valence > s.prev_valence
        and s.valence > u.user_mean_valence
    group by s.user_id, s.track_key
),

history_ranked as (
    -- the track's mean features over all the user's feature plays of it
    select
        h.user_id,
        h.track_key,
        h.valence,
        h.energy,
        h.danceability,
        h.acousticness,
        h.tempo,
        t.lift_plays,
        t.mean_valence_lift,
        u.user_mean_valence,
        u.n_feature_plays,
        row_number() over (
            partition by h.user_id
            order by t.lift_plays desc, t.mean_valence_lift desc, h.track_key
        ) as rank
    from user_tracks as h
    inner join track_lifts as t
        on h.user_id = t.user_id and h.track_key = t.track_key
    inner join user_mood as u
        on h.user_id = u.user_id
    where h.valence >= u.user_mean_valence
),

history_top as (
    select * from history_ranked where rank <= 10
),

history_names as (
    -- names of the picked tracks only: the largest of each over the spellings
    -- the user played without skipping (the picked tracks have trusted features)
    select
        sp.user_id,
        sp.track_key,
        max(sp.track_id) as track_id,
        max(sp.track_name) as track_name,
        max(sp.artist_name) as artist_name
    from track_spellings as sp
    inner join history_top as h
        on sp.user_id = h.user_id and sp.track_key = h.track_key
    where sp.n_plays > sp.n_skips
    group by sp.user_id, sp.track_key
),

lift_profile as (
    -- mean features of the lift plays: each track weighted by its lift plays
    select
        t.user_id,
        'lift plays' as profile_basis,
        sum(t.lift_plays * h.danceability) / sum(t.lift_plays) as danceability,
        sum(t.lift_plays * h.energy) / sum(t.lift_plays) as energy,
        sum(t.lift_plays * h.loudness) / sum(t.lift_plays) as loudness,
        sum(t.lift_plays * h.speechiness) / sum(t.lift_plays) as speechiness,
        sum(t.lift_plays * h.acousticness) / sum(t.lift_plays) as acousticness,
        sum(t.lift_plays * h.instrumentalness) / sum(t.lift_plays) as instrumentalness,
        sum(t.lift_plays * h.liveness) / sum(t.lift_plays) as liveness,
        sum(t.lift_plays * h.valence) / sum(t.lift_plays) as valence,
        sum(t.lift_plays * h.tempo) / sum(t.lift_plays) as tempo
    from track_lifts as t
    inner join user_tracks as h
        on t.user_id = h.user_id and t.track_key = h.track_key
    group by t.user_id
),

high_profile as (
    -- only for the users without lift plays: mean features of the plays above
    -- the user's mean valence (each track weighted by its plays)
    select
        h.user_id,
        'plays above mean valence' as profile_basis,
        sum(h.plays * h.danceability) / sum(h.plays) as danceability,
        sum(h.plays * h.energy) / sum(h.plays) as energy,
        sum(h.plays * h.loudness) / sum(h.plays) as loudness,
        sum(h.plays * h.speechiness) / sum(h.plays) as speechiness,
        sum(h.plays * h.acousticness) / sum(h.plays) as acousticness,
        sum(h.plays * h.instrumentalness) / sum(h.plays) as instrumentalness,
        sum(h.plays * h.liveness) / sum(h.plays) as liveness,
        sum(h.plays * h.valence) / sum(h.plays) as valence,
        sum(h.plays * h.tempo) / sum(h.plays) as tempo
    from user_tracks as h
    inner join user_mood as u
        on h.user_id = u.user_id
    where h.valence > u.user_mean_valence
        and h.user_id not in (select l.user_id from lift_profile as l)
    group by h.user_id
),

profiles as (
    select * from lift_profile
    union all
    select * from high_profile
),

catalog_stats as (
    select
        avg(c.danceability) as danceability_mean,
        avg(c.energy) as energy_mean,
        avg(c.loudness) as loudness_mean,
        avg(c.speechiness) as speechiness_mean,
        avg(c.acousticness) as acousticness_mean,
        avg(c.instrumentalness) as instrumentalness_mean,
        avg(c.liveness) as liveness_mean,
        avg(c.valence) as valence_mean,
        avg(c.tempo) as tempo_mean,
        stddev_samp(c.danceability) as danceability_std,
        stddev_samp(c.energy) as energy_std,
        stddev_samp(c.loudness) as loudness_std,
        stddev_samp(c.speechiness) as speechiness_std,
        stddev_samp(c.acousticness) as acousticness_std,
        stddev_samp(c.instrumentalness) as instrumentalness_std,
        stddev_samp(c.liveness) as liveness_std,
        stddev_samp(c.valence) as valence_std,
        stddev_samp(c.tempo) as tempo_std
    from catalog as c
),

genre_lists as (
    -- feature plays per genre list (tracks share lists), unnested below
    select
        h.user_id,
        h.genres,
        sum(h.plays) as plays
    from user_tracks as h
    group by h.user_id, h.genres
),

play_genres as (
    select
        g.user_id,
        unnest(g.genres) as genre,
        g.plays
    from genre_lists as g
),

user_genres as (
    select
        g.user_id,
        g.genre,
        row_number() over (partition by g.user_id order by sum(g.plays) desc, g.genre) as genre_rank
    from play_genres as g
    group by g.user_id, g.genre
),

top_genres as (
    select
        g.user_id,
        g.genre,
        g.genre_rank,
        u.user_mean_valence
    from user_genres as g
    inner join user_mood as u
        on g.user_id = u.user_id
    where g.genre_rank <= 3
),

heard as (
    -- catalog tracks the user has played (catalog_track_id is the catalog track
    -- linked by id, else by name; a played id outside the catalog never
    -- matches); only music plays carry either, so the user's tracks and their
    -- spellings hold them all
    select distinct
        sp.user_id,
        coalesce(t.catalog_track_id, sp.track_id) as track_id
    from heard_spellings as sp
    inner join heard_tracks as t
        on sp.user_id = t.user_id and sp.track_key = t.track_key
    where coalesce(t.catalog_track_id, sp.track_id) is not null
),

catalog_z as (
    -- every catalog track in z-scores (catalog mean and std per feature)
    select
        c.track_id,
        c.track_name,
        c.artist_name,
        c.popularity,
        c.genres,
        c.valence,
        c.energy,
        c.danceability,
        c.acousticness,
        c.tempo,
        case when s.danceability_std > 1e-9 then (c.danceability - s.danceability_mean) / s.danceability_std else 0 end as danceability_z,
        case when s.energy_std > 1e-9 then (c.energy - s.energy_mean) / s.energy_std else 0 end as energy_z,
        case when s.loudness_std > 1e-9 then (c.loudness - s.loudness_mean) / s.loudness_std else 0 end as loudness_z,
        case when s.speechiness_std > 1e-9 then (c.speechiness - s.speechiness_mean) / s.speechiness_std else 0 end as speechiness_z,
        case when s.acousticness_std > 1e-9 then (c.acousticness - s.acousticness_mean) / s.acousticness_std else 0 end as acousticness_z,
        case when s.instrumentalness_std > 1e-9 then (c.instrumentalness - s.instrumentalness_mean) / s.instrumentalness_std else 0 end as instrumentalness_z,
        case when s.liveness_std > 1e-9 then (c.liveness - s.liveness_mean) / s.liveness_std else 0 end as liveness_z,
        case when s.valence_std > 1e-9 then (c.valence - s.valence_mean) / s.valence_std else 0 end as valence_z,
        case when s.tempo_std > 1e-9 then (c.tempo - s.tempo_mean) / s.tempo_std else 0 end as tempo_z
    from catalog as c
    cross join catalog_stats as s
    where c.danceability is not null
        and c.energy is not null
        and c.loudness is not null
        and c.speechiness is not null
        and c.acousticness is not null
        and c.instrumentalness is not null
        and c.liveness is not null
        and c.valence is not null
        and c.tempo is not null
),

profiles_z as (
    select
        p.user_id,
        p.profile_basis,
        case when s.danceability_std > 1e-9 then (p.danceability - s.danceability_mean) / s.danceability_std else 0 end as danceability_z,
        case when s.energy_std > 1e-9 then (p.energy - s.energy_mean) / s.energy_std else 0 end as energy_z,
        case when s.loudness_std > 1e-9 then (p.loudness - s.loudness_mean) / s.loudness_std else 0 end as loudness_z,
        case when s.speechiness_std > 1e-9 then (p.speechiness - s.speechiness_mean) / s.speechiness_std else 0 end as speechiness_z,
        case when s.acousticness_std > 1e-9 then (p.acousticness - s.acousticness_mean) / s.acousticness_std else 0 end as acousticness_z,
        case when s.instrumentalness_std > 1e-9 then (p.instrumentalness - s.instrumentalness_mean) / s.instrumentalness_std else 0 end as instrumentalness_z,
        case when s.liveness_std > 1e-9 then (p.liveness - s.liveness_mean) / s.liveness_std else 0 end as liveness_z,
        case when s.valence_std > 1e-9 then (p.valence - s.valence_mean) / s.valence_std else 0 end as valence_z,
        case when s.tempo_std > 1e-9 then (p.tempo - s.tempo_mean) / s.tempo_std else 0 end as tempo_z
    from profiles as p
    cross join catalog_stats as s
),

catalog_genres as (
    select
        c.*,
        unnest(c.genres) as genre
    from catalog_z as c
),

candidates as (
    -- unheard catalog tracks in the user's top 3 genres, happier than the user's
    -- mean (the valence test rides on the genre join: no user x catalog product),
    -- with their distance to the user's profile; a track in several of those
    -- genres appears once per genre here
    select
        g.user_id,
        c.track_id,
        g.genre,
        g.genre_rank,
        c.popularity,
        sqrt(
            power(c.danceability_z - p.danceability_z, 2)
            + power(c.energy_z - p.energy_z, 2)
            + power(c.loudness_z - p.loudness_z, 2)
            + power(c.speechiness_z - p.speechiness_z, 2)
            + power(c.acousticness_z - p.acousticness_z, 2)
            + power(c.instrumentalness_z - p.instrumentalness_z, 2)
            + power(c.liveness_z - p.liveness_z, 2)
            + power(c.valence_z - p.valence_z, 2)
            + power(c.tempo_z - p.tempo_z, 2)
        ) as distance
    from top_genres as g
    inner join catalog_genres as c
        on g.genre = c.genre
        and c.valence > g.user_mean_valence
    inner join profiles_z as p
        on g.user_id = p.user_id
    left join heard as h
        on g.user_id = h.user_id and c.track_id = h.track_id
    where h.track_id is null
),

nearest_copies as (
    -- a track in several of the user's top genres keeps its highest-ranked one
    select
        k.user_id,
        k.track_id,
        min(k.genre_rank) as genre_rank,
        min(k.distance) as distance,
        max(k.popularity) as popularity
    from candidates as k
    group by k.user_id, k.track_id
),

distance_cutoffs as (
    -- a cheap bound before the exact ranking: distances in steps of 0.25; the
    -- 10 nearest tracks lie in the steps up to the one where the count of
    -- candidates reaches 10 (every track in a later step is farther than those
    -- 10), so only the candidates up to that step are sorted
    select
        c.user_id,
        min(c.distance_step) as max_step
    from (
        select
            s.user_id,
            s.distance_step,
            sum(s.tracks) over (
                partition by s.user_id
                order by s.distance_step
                rows between unbounded preceding and current row
            ) as tracks_up_to
        from (
            select
                n.user_id,
                floor(n.distance * 4) as distance_step,
                count(*) as tracks
            from nearest_copies as n
            group by n.user_id, floor(n.distance * 4)
        ) as s
    ) as c
    where c.tracks_up_to >= 10
    group by c.user_id
),

nearest_ranked as (
    select
        n.*,
        row_number() over (
            partition by n.user_id
            order by n.distance, n.popularity desc, n.track_id
        ) as rank
    from nearest_copies as n
    left join distance_cutoffs as c
        on n.user_id = c.user_id
    where c.max_step is null or floor(n.distance * 4) <= c.max_step
),

nearest_picks as (
    select
        n.user_id,
        n.track_id,
        n.rank,
        n.distance,
        g.genre
    from nearest_ranked as n
    inner join top_genres as g
        on n.user_id = g.user_id and n.genre_rank = g.genre_rank
    where n.rank <= 10
),

catalog_ranked as (
    select
        n.user_id,
        n.rank,
        n.genre,
        n.distance,
        c.track_id,
        c.track_name,
        c.artist_name,
        c.popularity,
        c.valence,
        c.energy,
        c.danceability,
        c.acousticness,
        c.tempo,
        u.user_mean_valence,
        u.n_feature_plays,
        p.profile_basis
    from nearest_picks as n
    inner join catalog_z as c
        on n.track_id = c.track_id
    inner join profiles_z as p
        on n.user_id = p.user_id
    inner join user_mood as u
        on n.user_id = u.user_id
),

final as (
    select
        h.user_id,
        'history' as source,
        h.rank,
        n.track_id,
        h.track_key,
        n.track_name,
        n.artist_name,
        cast(null as varchar) as genre,
        h.valence,
        h.energy,
        h.danceability,
        h.acousticness,
        h.tempo,
        h.lift_plays,
        h.mean_valence_lift,
        cast(null as double) as distance,
        h.user_mean_valence,
        h.n_feature_plays,
        cast(null as varchar) as profile_basis,
        'lifted your valence by +'
        || cast(cast(round(h.mean_valence_lift, 2) as decimal(10, 2)) as varchar)
        || ' on average the ' || cast(h.lift_plays as varchar)
        || ' time(s) it followed a lower-valence track in a session' as reason
    from history_top as h
    inner join history_names as n
        on h.user_id = n.user_id and h.track_key = n.track_key
    union all
    select
        c.user_id,
        'catalog' as source,
        c.rank,
        c.track_id,
        cast(null as varchar) as track_key,
        c.track_name,
        c.artist_name,
        c.genre,
        c.valence,
        c.energy,
        c.danceability,
        c.acousticness,
        c.tempo,
        cast(null as bigint) as lift_plays,
        cast(null as double) as mean_valence_lift,
        c.distance,
        c.user_mean_valence,
        c.n_feature_plays,
        c.profile_basis,
        'unheard ' || c.genre || ' track close to your mood-lift profile (distance '
        || cast(cast(round(c.distance, 2) as decimal(10, 2)) as varchar) || '), valence '
        || cast(cast(round(c.valence, 2) as decimal(10, 2)) as varchar) || ' vs your mean '
        || cast(cast(round(c.user_mean_valence, 2) as decimal(10, 2)) as varchar) as reason
    from catalog_ranked as c
)

select * from final
