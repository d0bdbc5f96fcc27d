-- The RFM segment map must be a total function on the 5 x 5 (r_score, f_score) grid
-- and onto the segment list: returns one row per problem (a cell missing or mapped
-- twice, a row outside the grid, a segment no cell reaches, a segment not in the list).
with

scores as (

    select 1 as score
    union all select 2
    union all select 3
    union all select 4
    union all select 5

),

cells as (

    select
        r.score as r_score,
        f.score as f_score

    from scores as r

    cross join scores as f

),

segment_map as (

    select * from {{ ref('rfm_segment_map') }}

),

segments as (

    select * from {{ ref('rfm_segments') }}

),

cell_counts as (

    select
        cells.r_score,
        cells.f_score,
        count(segment_map.rfm_segment) as mapped_segments

    from cells

    left join segment_map
        on cells.r_score = segment_map.r_score
        and cells.f_score = segment_map.f_score

    group by cells.r_score, cells.f_score

),

problems as (

    select
        'cell mapped ' || {{ dbt.safe_cast('mapped_segments', dbt.type_string()) }} || ' times' as problem,
        r_score,
        f_score,
        cast(null as {{ dbt.type_string() }}) as rfm_segment

    from cell_counts
    where mapped_segments <> 1

    union all

    select
        'row outside the 5 x 5 grid' as problem,
        segment_map.r_score,
        segment_map.f_score,
        segment_map.rfm_segment

    from segment_map

    left join cells
        on segment_map.r_score = cells.r_score
        and segment_map.f_score = cells.f_score

    where cells.r_score is null

    union all

    select
        'segment reached by no cell' as problem,
        cast(null as integer) as r_score,
        cast(null as integer) as f_score,
        segments.rfm_segment

    from segments
    where segments.rfm_segment not in (
        select rfm_segment from segment_map where rfm_segment is not null
    )

    union all

    select
        'segment not in rfm_segments' as problem,
        segment_map.r_score,
        segment_map.f_score,
        segment_map.rfm_segment

    from segment_map
    where segment_map.rfm_segment is null
        or segment_map.rfm_segment not in (select rfm_segment from segments)

)

select * from problems
