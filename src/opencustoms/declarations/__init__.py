"""Declarations: storage, search, import and export in CSV, JSON Lines and Parquet, through format layouts."""
