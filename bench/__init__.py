"""Reproducible benchmarks: a data generator, load drivers, and our server against a peer.

Nothing here is imported by the application or run in CI. `bench/run` is the one entry point;
figures land in `bench/RESULTS.md`, scratch data in `bench/.work/`, the peer in `bench/.peer/`.
"""
