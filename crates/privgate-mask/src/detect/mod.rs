//! PII detectors (placeholder; being written).
