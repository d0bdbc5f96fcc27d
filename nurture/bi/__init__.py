"""What people and BI tools read after a run: the BI snapshot of the marts
(``snapshot``), the run record in ``audit`` tables (``run_record``) and the summary
the CLI and the demo print (``summary``). It may import the exports, checks,
predictions and warehouse below it; the report reads the snapshot from above."""
