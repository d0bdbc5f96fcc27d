"""Nurture: batch data pipeline for retention (lifecycle) marketing.

Extract a shop's database and engagement logs into a raw zone, build the
warehouse with dbt, check it, and export campaign audiences.
"""

__version__ = "0.1.0"
