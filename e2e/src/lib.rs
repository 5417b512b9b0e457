//! End-to-end harness: runs the real binaries against an API server (simulated or real). Does I/O.
