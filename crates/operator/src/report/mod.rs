//! The report channel's server side (DESIGN.md section 4): TLS material, agent authentication,
//! the gRPC `ReportService` and the periodic sweep of silent nodes. Does I/O.

pub mod tls;
