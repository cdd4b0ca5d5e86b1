"""The Lambda runtime: execution environments in worker processes, timeouts, reserved
concurrency, the Invoke endpoint."""
