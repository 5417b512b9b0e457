//! Pure logic of the Kairos operator; performs no I/O, never awaits and never reads the clock.
