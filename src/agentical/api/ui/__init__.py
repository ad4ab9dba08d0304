"""The live run pages: server-rendered HTML with the run's DAG drawn as inline SVG."""
