"""Field mapping: the columns a destination receives, renamed and formatted in SQL."""

from __future__ import annotations

from nurture.export.config import FieldMap

# Each format is a DuckDB expression of the source column.
FORMATS = {
    "lower": "lower(trim({col}))",
    # E.164: '+' and digits only; a number written with a leading 00 becomes +.
    "e164": "nullif(regexp_replace(regexp_replace(trim({col}), '^00', '+'), '[^0-9+]', '', 'g'), '')",
    "iso_date": "strftime({col}::date, '%Y-%m-%d')",
}


def select_list(fields: tuple[FieldMap, ...], columns: list[str]) -> str:
    """The SELECT list for a destination: every column as is, or the mapped fields.

    One destination serves segments with different columns: a mapped field the
    segment does not have is sent as null, so the destination's schema stays fixed.
    """
    if not fields:
        return ", ".join(f'"{c}"' for c in columns)
    parts = []
    for f in fields:
        if f.source not in columns:
            expression = "null"
        elif f.format:
            expression = FORMATS[f.format].format(col=f'"{f.source}"')
        else:
            expression = f'"{f.source}"'
        parts.append(f'{expression} as "{f.name}"')
    return ", ".join(parts)
