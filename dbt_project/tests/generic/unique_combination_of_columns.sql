{% test unique_combination_of_columns(model, combination_of_columns) %}
    {#-
        A model's grain over several columns: no two rows share the combination (nulls
        count as equal, so a null never hides a duplicate). The same test and arguments
        as dbt_utils', which this project does not install; dbt-project-evaluator counts
        it as a primary-key test (var primary_key_test_macros in dbt_project.yml).
    -#}
    {%- set columns = combination_of_columns | join(', ') %}
    select {{ columns }}, count(*) as rows_with_key
    from {{ model }}
    group by {{ columns }}
    having count(*) > 1
{% endtest %}
