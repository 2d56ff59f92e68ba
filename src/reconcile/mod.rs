//! (temporary until the budget branch merges)
pub mod pass;
pub mod plan;
pub mod report;
