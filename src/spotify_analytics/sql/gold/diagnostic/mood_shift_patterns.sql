-- How mood moves from one play to the next WITHIN A SESSION (never across
-- sessions). Plays are the user's music plays that were not skipped, ordered
-- by played_at inside each session_id; a pair counts when both plays have
-- valence and energy. Deltas are rounded to 6 decimals, then:
-- stable if |valence delta| <= 0.2 and |energy delta| <= 0.2,
-- major if either |delta| > 0.5, else minor.
-- Every user with at least one pair gets all three shift types (zero counts).
with listening as (
    select * from listening_with_features
),

params as (
    select * from run_params
),

music_plays as (
    -- a play has a mood when valence and energy are there and trusted; the
    -- mood columns are null on the others, so a pair counts when both plays
    -- have a non-null valence
    select
        m.user_id,
        m.session_id,
        m.played_at,
        m.session_play_no,
        case when m.has_mood then m.valence end as valence,
        case when m.has_mood then m.energy end as energy,
        case when m.has_mood then m.mood_quadrant end as mood_quadrant,
        m.has_mood
    from (
        select
            l.user_id,
            l.session_id,
            l.played_at,
            l.session_play_no,
            (
                l.valence is not null
                and l.energy is not null
                and (coalesce(l.feature_source, '') <> 'synthetic' or p.allow_synthetic)
            ) as has_mood,
            l.valence,
            l.energy,
            l.mood_quadrant
        from listening as l
        cross join params as p
        where coalesce(l.is_music, false)
            and not coalesce(l.is_skip, false)
            and l.user_id is not null
            and l.session_id is not null
    ) as m
),

sequenced as (
    -- the previous play in the session: a user's sessions follow one another in
    -- played_at order and session_play_no orders a session by played_at, then
    -- play_id, so the previous play in the user's order by played_at and
    -- session_play_no is the previous one in the session when it has the same
    -- session_id (one sort per user instead of a partition per session: a
    -- third less CPU at 10M plays)
    select
        m.user_id,
        m.session_id,
        m.has_mood,
        m.valence,
        m.energy,
        m.mood_quadrant,
        case when lag(m.session_id) over play_order = m.session_id
            then lag(m.valence) over play_order end as prev_valence,
        case when lag(m.session_id) over play_order = m.session_id
            then lag(m.energy) over play_order end as prev_energy,
        case when lag(m.session_id) over play_order = m.session_id
            then lag(m.mood_quadrant) over play_order end as prev_quadrant
    from music_plays as m
    window play_order as (partition by m.user_id order by m.played_at, m.session_play_no)
),

transitions as (
    select
        s.user_id,
        s.session_id,
        round(s.valence - s.prev_valence, 6) as valence_delta,
        round(s.energy - s.prev_energy, 6) as energy_delta,
        coalesce(s.prev_quadrant, 'unknown') as from_quadrant,
        coalesce(s.mood_quadrant, 'unknown') as to_quadrant
    from sequenced as s
    where s.has_mood and s.prev_valence is not null
),

classified as (
    select
        t.*,
        case
            when abs(t.valence_delta) <= 0.2 and abs(t.energy_delta) <= 0.2 then 'stable'
            when abs(t.valence_delta) > 0.5 or abs(t.energy_delta) > 0.5 then 'major'
            else 'minor'
        end as shift_type
    from transitions as t
),

shift_types as (
    select * from (values ('stable'), ('minor'), ('major')) as shift_types (shift_type)
),

user_totals as (
    select
        c.user_id,
        cast(count(*) as bigint) as n_transitions,
        cast(count(distinct c.session_id) as bigint) as n_sessions
    from classified as c
    group by c.user_id
),

by_type as (
    select
        c.user_id,
        c.shift_type,
        cast(count(*) as bigint) as transitions,
        cast(count(distinct c.session_id) as bigint) as sessions,
        avg(c.valence_delta) as mean_valence_delta,
        avg(c.energy_delta) as mean_energy_delta,
        avg(abs(c.valence_delta)) as mean_abs_valence_delta,
        avg(abs(c.energy_delta)) as mean_abs_energy_delta
    from classified as c
    group by c.user_id, c.shift_type
),

quadrant_moves as (
    select
        c.user_id,
        c.shift_type,
        c.from_quadrant || ' -> ' || c.to_quadrant as quadrant_transition,
        cast(count(*) as bigint) as moves,
        row_number() over (
            partition by c.user_id, c.shift_type
            order by count(*) desc, c.from_quadrant, c.to_quadrant
        ) as move_rank
    from classified as c
    group by c.user_id, c.shift_type, c.from_quadrant, c.to_quadrant
),

final as (
    select
        u.user_id,
        s.shift_type,
        coalesce(b.transitions, cast(0 as bigint)) as transitions,
        u.n_transitions,
        u.n_sessions,
        coalesce(b.transitions, 0) / cast(u.n_transitions as double) as share,
        coalesce(b.sessions, cast(0 as bigint)) as sessions,
        b.mean_valence_delta,
        b.mean_energy_delta,
        b.mean_abs_valence_delta,
        b.mean_abs_energy_delta,
        q.quadrant_transition as top_quadrant_transition,
        q.moves as top_quadrant_transition_count
    from user_totals as u
    cross join shift_types as s
    left join by_type as b
        on u.user_id = b.user_id and s.shift_type = b.shift_type
    left join quadrant_moves as q
        on u.user_id = q.user_id and s.shift_type = q.shift_type and q.move_rank = 1
)

select * from final
