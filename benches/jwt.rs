//! JWT benchmarks (filled in below).
fn main() {}
