"""Configuration, CLI, stage entry points, validation, sources and sinks, the weekly report."""
