"""Other tools computing the same features as leadscore, for the benchmark (see BENCHMARKS.md)."""
