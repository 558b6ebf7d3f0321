"""The benchmark scripts' own checks (bench/): they run and report what they promise."""
