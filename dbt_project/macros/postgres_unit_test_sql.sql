{% macro postgres__get_unit_test_sql(main_sql, expected_fixture_sql, expected_column_names) -%}
    {#-
        dbt's unit tests compare actual and expected rows as text, and a PostgreSQL
        numeric keeps the scale of each value: a sum of numeric(12, 2) is an
        unconstrained numeric, so the expected 60.0 prints "60.0" and the actual
        "60.00", and the test fails although the numbers are equal (dbt-core #10470).
        DuckDB types such results (decimal(38, 2)), so only PostgreSQL needs this:
        numeric columns are compared with trailing zeros trimmed on both sides, which
        compares values. Everything else is dbt's default__get_unit_test_sql.
    -#}
    {%- set numeric_columns = [] -%}
    {%- if execute -%}
        {%- for column in adapter.get_column_schema_from_query(get_empty_subquery_sql(main_sql)) -%}
            {%- if column.data_type | lower in ('numeric', 'decimal') -%}
                {%- do numeric_columns.append(adapter.quote(column.name)) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set compared = [] -%}
    {%- for name in expected_column_names -%}
        {%- do compared.append('trim_scale(' ~ name ~ ') as ' ~ name if name in numeric_columns else name) -%}
    {%- endfor %}
-- Build actual result given inputs
with dbt_internal_unit_test_actual as (
  select
    {{ compared | join(', ') }}, {{ dbt.string_literal("actual") }} as {{ adapter.quote("actual_or_expected") }}
  from (
    {{ main_sql }}
  ) _dbt_internal_unit_test_actual
),
-- Build expected result
dbt_internal_unit_test_expected as (
  select
    {{ compared | join(', ') }}, {{ dbt.string_literal("expected") }} as {{ adapter.quote("actual_or_expected") }}
  from (
    {{ expected_fixture_sql }}
  ) _dbt_internal_unit_test_expected
)
-- Union actual and expected results
select * from dbt_internal_unit_test_actual
union all
select * from dbt_internal_unit_test_expected
{%- endmacro %}
