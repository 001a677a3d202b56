"""Building blocks of bench/run.py: workloads, servers, checks, load, report, chart."""
