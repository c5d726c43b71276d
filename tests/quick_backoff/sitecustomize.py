"""Loaded by every Python process started with this folder on PYTHONPATH (tests/fault_proxy.py's
`quick_backoff`): botocore's wait before retrying a throttled request (503 SlowDown), a random
0-1 s doubling with each attempt, cut to its wait for other faults (0-50 ms), so the luigi runs
the tests start through FaultProxy retry as the product does, without seconds of sleep."""

from botocore.retries.standard import ExponentialBackoff

ExponentialBackoff._DEFAULT_BACKOFF_CONFIG = {**ExponentialBackoff._DEFAULT_BACKOFF_CONFIG,
                                              "throttling_base_scale": 0.05}
