"""Local runtime: the embedded engine's stand-ins for AWS and providers."""
