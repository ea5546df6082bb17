"""The Faust app and its agents (intake, enrich, dedup, route, audit)."""
