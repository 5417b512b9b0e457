//! gRPC types of the report channel, generated from `proto/`, and conversions to core types. No I/O.
