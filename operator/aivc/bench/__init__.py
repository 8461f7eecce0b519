"""Speed and memory benchmarks: `python -m aivc.bench --out bench` (see `__main__`)."""
