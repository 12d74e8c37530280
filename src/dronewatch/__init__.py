"""dronewatch: counter-drone early warning — detection, tracking, assessment, alerting."""

__version__ = "0.1.0"
