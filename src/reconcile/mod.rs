//! Desired-state routing: the route spec reconciled against every table.
//! `plan` decides (pure), `pass` observes and applies, `engine` runs passes
//! in the daemon, `budget` paces the calls, `report` renders plan/apply.

pub mod budget;
pub mod engine;
pub mod pass;
pub mod plan;
pub mod report;
