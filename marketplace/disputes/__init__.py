"""disputes domain."""
