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

#[cfg(test)]
mod tests {
    /// ARCHITECTURE.md's invariant, checked on the source: no socket, file,
    /// thread or clock in `bgp` outside its tests.
    #[test]
    fn bgp_does_no_io_and_reads_no_clock() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bgp");
        let mut seen = 0;
        for sub in ["", "wire", "session"] {
            let file = dir.join(sub).join("mod.rs");
            let text = std::fs::read_to_string(&file).unwrap();
            let own = text.split("#[cfg(test)]\nmod tests").next().unwrap();
            for banned in [
                "Instant::now",
                "SystemTime",
                "std::fs",
                "std::io",
                "std::net::Tcp",
                "std::net::Udp",
                "std::thread",
                "std::env",
                "crate::clock",
            ] {
                assert!(!own.contains(banned), "{}: {banned}", file.display());
            }
            seen += 1;
        }
        assert_eq!(seen, 3);
    }
}
