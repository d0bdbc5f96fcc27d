"""Extract: the shop's tables changed in a run's data interval and the day's engagement
logs into the raw zone (Parquet partitions by day), bad rows quarantined with a reason
(``shop_tables``, ``event_logs``, ``raw_zone``), and the source check that reads a shop
before anything is extracted (``source_check``). The lowest package: it imports only
the foundation modules (config, atomic, shop_schema)."""
