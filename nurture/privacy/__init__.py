"""Privacy that holds whatever else fails: erasure requests applied to every local copy
and queued for the platforms (``erasure``), retention periods for the raw zone and the
export files (``files``) and for the warehouse tables that keep personal data
(``warehouse_retention``). It sits above the layers it erases from (exports, BI,
warehouse, raw zone) and reaches them through what they offer; the suppression list
that the exports honour lives below it, in ``nurture.export.suppression``."""
