"""Turn a saved benchmark run into the report's tables, figures and statistics: python -m reports.build."""
