//! Records what a real BGP speaker sends, for fixtures/bgp: listens on
//! 127.0.0.1:PORT, takes one connection, answers through `bgp::Session`
//! (so the peer reaches Established), and writes every message the peer
//! sends to DIR/NN-name.hex, one line of hex each. Prints the session's
//! events as they come, for fixtures/bgp/capture.sh to wait on. Ends when
//! the session does (the peer's NOTIFICATION, or 120 s without one).
//!
//! Usage: cargo run --example bgp_capture -- PORT DIR

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::time::{Duration, Instant};

use vpc_router::bgp::wire::{self, kind, UpdateContext};
use vpc_router::bgp::{Config, Family, Session};

/// A file name for a message: its type, and for an UPDATE what it does
/// (read with AS numbers of 4 octets or 2, as the peer's OPEN said).
fn name(t: u8, body: &[u8], four_octet: bool) -> String {
    let family = |f: Family| if f == Family::Ipv4Unicast { "v4" } else { "v6" };
    match t {
        kind::OPEN => "open".into(),
        kind::KEEPALIVE => "keepalive".into(),
        kind::NOTIFICATION => "notification".into(),
        kind::UPDATE => {
            let ctx = UpdateContext {
                four_octet,
                ebgp: true,
            };
            match wire::decode_update(body, ctx) {
                Ok(u) if u.end_of_rib.is_some() => format!("eor-{}", family(u.end_of_rib.unwrap())),
                Ok(u) if !u.announced.is_empty() => {
                    format!("update-{}", family(u.announced[0].0.family()))
                }
                Ok(u) if !u.withdrawn.is_empty() => {
                    format!("withdraw-{}", family(u.withdrawn[0].family()))
                }
                _ => "update".into(),
            }
        }
        t => format!("type{t}"),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, port, dir] = &args[..] else {
        return Err("usage: bgp_capture PORT DIR".into());
    };
    let listener = TcpListener::bind(("127.0.0.1", port.parse::<u16>()?))?;
    println!("listening on {}", listener.local_addr()?);
    let (mut sock, peer) = listener.accept()?;
    println!("connection from {peer}");
    sock.set_read_timeout(Some(Duration::from_millis(100)))?;
    let config = Config {
        local_as: 65000,
        router_id: Ipv4Addr::new(192, 0, 2, 99),
        hold_time: 90,
        peer_as: Some(65001),
        max_prefixes: 1000,
    };
    let start = Instant::now();
    let (mut session, mut out) = Session::new(config, start);
    let (mut pending, mut count, mut buf) = (Vec::new(), 0, [0u8; 4096]);
    let mut four_octet = false;
    loop {
        sock.write_all(&out.send)?;
        for e in &out.events {
            println!("{:.3} {e:?}", start.elapsed().as_secs_f64());
        }
        if out.close || start.elapsed() > Duration::from_secs(120) {
            return Ok(());
        }
        let n = match sock.read(&mut buf) {
            Ok(0) => {
                out = session.closed("the peer closed the connection");
                continue;
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                out = session.tick(Instant::now());
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        // Record whole messages as they arrive, before the session sees them.
        pending.extend_from_slice(&buf[..n]);
        while let Ok(Some((t, len))) = wire::frame(&pending) {
            count += 1;
            let body = &pending[wire::HEADER_LEN..len];
            if t == kind::OPEN {
                four_octet = wire::Open::decode(body).is_ok_and(|o| o.four_octet_as().is_some());
            }
            let hex: String = pending[..len].iter().map(|b| format!("{b:02x}")).collect();
            let file = format!("{dir}/{count:02}-{}.hex", name(t, body, four_octet));
            std::fs::write(&file, hex + "\n")?;
            pending.drain(..len);
        }
        out = session.input(&buf[..n], Instant::now());
    }
}
