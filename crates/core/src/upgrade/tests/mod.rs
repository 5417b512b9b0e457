//! Tests of the upgrade module.
