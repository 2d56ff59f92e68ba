//! BGP-4, the protocol core of vpc-router's passive BGP listener: routers
//! announce prefixes and vpc-router points VPC routes at the best path's
//! next hop. Sans-IO, like boringtun's `Tunn`: `wire` turns bytes into
//! messages and back, `session` is one connection's state machine, fed the
//! bytes read and the time, answering with the bytes to write and events.
//! Sockets, timers, best-path selection and the VPC side are the caller's:
//! nothing here opens a socket or reads a clock.

pub mod session;
pub mod wire;

pub use session::{Config, Event, Output, Session, State};
pub use wire::{Family, Path, Prefix};
