//! (temporary until the budget branch merges)
pub mod plan;
