"""The simulator checked against closed forms, telemetry and exhaustive exploration."""
