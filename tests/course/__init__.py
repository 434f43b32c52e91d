"""The course around the package: notebooks, Binder, the website, a classroom, the benchmarks."""
