//! Arbitrary bytes into a Session after the OPEN exchange with a peer like
//! BIRD, in arbitrary pieces, with timer ticks between them. Nothing may
//! panic, and every answer must be well formed: whole messages of our own
//! kinds only, at most one Down and last, close exactly when Down, and
//! nothing at all once closed.
#![no_main]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use vpc_router::bgp::wire::{self, kind, Open};
use vpc_router::bgp::{Config, Event, Output, Session, State};

fn check(s: &Session, out: &Output, was_closed: bool) {
    if was_closed {
        assert!(out.send.is_empty() && out.events.is_empty() && out.close);
        return;
    }
    let mut rest = &out.send[..];
    while !rest.is_empty() {
        let (t, len) = wire::frame(rest).unwrap().unwrap();
        assert!(t == kind::KEEPALIVE || t == kind::NOTIFICATION);
        rest = &rest[len..];
    }
    let downs = out
        .events
        .iter()
        .filter(|e| matches!(e, Event::Down { .. }))
        .count();
    assert!(downs <= 1);
    if downs == 1 {
        assert!(matches!(out.events.last(), Some(Event::Down { .. })));
        assert!(out.close && out.deadline.is_none() && s.state() == State::Closed);
        assert_eq!(s.prefixes(), 0);
    } else {
        assert!(!out.close && s.state() != State::Closed);
    }
    assert!(s.prefixes() <= 50);
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, data)) = data.split_first() else {
        return;
    };
    let t0 = Instant::now();
    let config = Config {
        local_as: 65000,
        router_id: Ipv4Addr::new(192, 0, 2, 99),
        hold_time: 90,
        peer_as: None,
        max_prefixes: 50,
    };
    let (mut s, _) = Session::new(config, t0);
    // The peer with or without the 4-octet AS capability, then its
    // KEEPALIVE: Established.
    let mut open = Open::ours(65001, 240, Ipv4Addr::new(192, 0, 2, 1));
    if control & 1 == 1 {
        open.capabilities
            .retain(|c| !matches!(c, wire::Capability::FourOctetAs(_)));
    }
    s.input(&open.encode(), t0);
    s.input(&wire::keepalive(), t0);
    assert_eq!(s.state(), State::Established);
    let piece = 1 + usize::from(control >> 1);
    let mut now = t0;
    for chunk in data.chunks(piece) {
        let was_closed = s.state() == State::Closed;
        let out = s.input(chunk, now);
        check(&s, &out, was_closed);
        now += Duration::from_millis(u64::from(chunk[0]) * 100);
        let was_closed = s.state() == State::Closed;
        let out = s.tick(now);
        check(&s, &out, was_closed);
    }
});
