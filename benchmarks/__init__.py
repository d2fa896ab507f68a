"""`make bench`: benchmarks of genmedia, each reported against a baseline measured in the same run."""
