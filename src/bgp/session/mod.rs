//! The BGP finite state machine (RFC 4271 §8) of one TCP connection that the
//! shell has accepted from a configured peer, passive side only: vpc-router
//! never connects out and never advertises a route. Sans-IO: bytes and the
//! time come in, bytes to send, events, the next deadline and whether to
//! close go out. It owns the connection's state, timers, the partial message
//! being received and the set of prefixes the peer holds (for the prefix
//! limit); best-path selection and the VPC are the caller's.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::wire::{self, code, kind, subcode, Notification, Open, UpdateContext};
pub use super::wire::{Family, Path, Prefix};

/// The hold timer while we wait for the peer's OPEN, and for its KEEPALIVE
/// when it negotiated no hold time: RFC 4271 §8's "large value" (4
/// minutes), so that no connection waits forever.
pub const OPEN_HOLD: Duration = Duration::from_secs(240);

/// When our first KEEPALIVE in Established goes, after the one that
/// answered the peer's OPEN (see `Session::established`).
pub const WAKE_UP: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub local_as: u32,
    pub router_id: Ipv4Addr,
    /// Proposed hold time in seconds (0 or >= 3); the session uses
    /// min(ours, peer's). 1 or 2 are taken as 3.
    pub hold_time: u16,
    /// The peer's AS, if configured (`--bgp-peer IP,as=N`); an OPEN with
    /// another AS is refused with NOTIFICATION OPEN Message Error / Bad
    /// Peer AS.
    pub peer_as: Option<u32>,
    /// More prefixes than this held from the peer at once (IPv4 + IPv6):
    /// NOTIFICATION Cease / Maximum Number of Prefixes Reached (RFC 4486,
    /// with AFI, SAFI and the limit as data) and close.
    pub max_prefixes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    OpenSent,
    OpenConfirm,
    Established,
    Closed,
}

#[derive(Debug, Default)]
pub struct Output {
    /// Bytes to write to the socket, in order.
    pub send: Vec<u8>,
    pub events: Vec<Event>,
    /// Call `tick` at this time at the latest (keepalive or hold timer);
    /// None when closed, or when no timer runs (a negotiated hold time of
    /// 0, once established).
    pub deadline: Option<Instant>,
    /// Close the connection after writing `send`. Once a session is closed,
    /// every call answers with this set and nothing else.
    pub close: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Established {
        peer_as: u32,
        peer_id: Ipv4Addr,
        hold_time: u16,
        four_octet: bool,
        families: Vec<Family>,
    },
    /// Announced prefixes with their path, and withdrawn prefixes (a
    /// malformed attribute that RFC 7606 says to treat-as-withdraw turns
    /// the UPDATE's prefixes into withdrawals, logged in `reason`).
    Update {
        announced: Vec<(Prefix, Path)>,
        withdrawn: Vec<Prefix>,
        treat_as_withdraw: Option<String>,
    },
    EndOfRib(Family),
    /// The session ended; every path of this peer is gone. `sent` /
    /// `received`: the NOTIFICATION, if any, as text like
    /// "Cease/Administrative Shutdown: maintenance".
    Down {
        reason: String,
        sent: Option<String>,
        received: Option<String>,
    },
}

/// What the peer's OPEN settled.
#[derive(Debug, Clone)]
struct Peer {
    asn: u32,
    id: Ipv4Addr,
    hold_time: u16,
    four_octet: bool,
    families: Vec<Family>,
}

pub struct Session {
    config: Config,
    state: State,
    /// Received bytes not yet a whole message (at most one message's worth
    /// is kept between calls).
    pending: Vec<u8>,
    peer: Option<Peer>,
    hold_due: Option<Instant>,
    keepalive_due: Option<Instant>,
    keepalive_sent: Option<Instant>,
    /// The prefixes the peer holds now.
    held: HashSet<Prefix>,
}

impl Session {
    /// The connection is up: sends our OPEN at once (so the peer, BIRD,
    /// does not wait).
    pub fn new(mut config: Config, now: Instant) -> (Session, Output) {
        if config.hold_time > 0 {
            config.hold_time = config.hold_time.max(3);
        }
        let open = Open::ours(config.local_as, config.hold_time, config.router_id);
        let session = Session {
            config,
            state: State::OpenSent,
            pending: Vec::new(),
            peer: None,
            hold_due: Some(now + OPEN_HOLD),
            keepalive_due: None,
            keepalive_sent: None,
            held: HashSet::new(),
        };
        let out = Output {
            send: open.encode(),
            ..Output::default()
        };
        let out = session.finish(out);
        (session, out)
    }

    /// Bytes read from the socket (any split: partial messages are kept
    /// until complete).
    pub fn input(&mut self, bytes: &[u8], now: Instant) -> Output {
        let mut out = Output::default();
        if self.state == State::Closed {
            return self.finish(out);
        }
        self.pending.extend_from_slice(bytes);
        let mut at = 0;
        while self.state != State::Closed {
            match wire::frame(&self.pending[at..]) {
                Ok(None) => break,
                Ok(Some((t, len))) => {
                    let body = self.pending[at + wire::HEADER_LEN..at + len].to_vec();
                    at += len;
                    self.message(t, &body, now, &mut out);
                }
                Err(n) => self.fail(
                    n,
                    "the peer sent a malformed message header".into(),
                    &mut out,
                ),
            }
        }
        if self.state == State::Closed {
            self.pending = Vec::new();
        } else {
            self.pending.drain(..at);
        }
        self.finish(out)
    }

    /// Timers: sends KEEPALIVE every hold/3; hold timer expiry ->
    /// NOTIFICATION Hold Timer Expired, Down, close.
    pub fn tick(&mut self, now: Instant) -> Output {
        let mut out = Output::default();
        if self.state == State::Closed {
            return self.finish(out);
        }
        if self.hold_due.is_some_and(|due| now >= due) {
            let n = Notification::new(code::HOLD_TIMER, 0, vec![]);
            let why = match self.state {
                State::OpenSent => "no OPEN from the peer within the hold time",
                _ => "nothing from the peer within the hold time",
            };
            self.fail(n, why.into(), &mut out);
        } else if self.keepalive_due.is_some_and(|due| now >= due) {
            self.send_keepalive(now, &mut out);
        }
        self.finish(out)
    }

    /// The socket closed or failed: Down (no NOTIFICATION sent).
    pub fn closed(&mut self, why: &str) -> Output {
        let mut out = Output::default();
        if self.state != State::Closed {
            self.down(
                format!("connection closed: {}", escaped(why)),
                None,
                None,
                &mut out,
            );
        }
        self.finish(out)
    }

    /// We close (the daemon stops, or the peer was removed): NOTIFICATION
    /// Cease/Administrative Shutdown (with an RFC 8203 message), Down, close.
    pub fn shutdown(&mut self, message: &str) -> Output {
        let mut out = Output::default();
        if self.state != State::Closed {
            let n = Notification::shutdown(subcode::ADMIN_SHUTDOWN, message);
            self.fail(n, "shut down".into(), &mut out);
        }
        self.finish(out)
    }

    pub fn state(&self) -> State {
        self.state.clone()
    }

    /// Prefixes the peer holds now (for the prefix limit and /status).
    pub fn prefixes(&self) -> usize {
        self.held.len()
    }

    /// The deadline, and `close` once closed.
    fn finish(&self, mut out: Output) -> Output {
        if self.state == State::Closed {
            out.deadline = None;
            out.close = true;
        } else {
            out.deadline = match (self.hold_due, self.keepalive_due) {
                (Some(h), Some(k)) => Some(h.min(k)),
                (h, k) => h.or(k),
            };
        }
        out
    }

    fn message(&mut self, t: u8, body: &[u8], now: Instant, out: &mut Output) {
        if t == kind::NOTIFICATION {
            let n = Notification::decode(body);
            let reason = "the peer sent a NOTIFICATION".to_string();
            self.down(reason, None, Some(n.to_string()), out);
            return;
        }
        match (&self.state, t) {
            (State::OpenSent, kind::OPEN) => self.open(body, now, out),
            (State::OpenConfirm, kind::KEEPALIVE) => self.established(now, out),
            (State::Established, kind::KEEPALIVE | kind::ROUTE_REFRESH) => self.heard(now),
            (State::Established, kind::UPDATE) => {
                self.heard(now);
                self.update(body, out);
            }
            (state, t) => {
                let (sub, name) = match state {
                    State::OpenSent => (subcode::FSM_IN_OPEN_SENT, "OpenSent"),
                    State::OpenConfirm => (subcode::FSM_IN_OPEN_CONFIRM, "OpenConfirm"),
                    _ => (subcode::FSM_IN_ESTABLISHED, "Established"),
                };
                let n = Notification::new(code::FSM, sub, vec![]);
                let why = format!("the peer sent a message of type {t} in {name}");
                self.fail(n, why, out);
            }
        }
    }

    /// The peer's OPEN: checked (RFC 4271 §6.2), then KEEPALIVE and
    /// OpenConfirm, with the negotiated hold time.
    fn open(&mut self, body: &[u8], now: Instant, out: &mut Output) {
        let open = match Open::decode(body) {
            Ok(open) => open,
            Err(n) => return self.fail(n, "the peer's OPEN was refused".into(), out),
        };
        let refuse =
            |sub: u8, data: Vec<u8>, why: String| (Notification::new(code::OPEN, sub, data), why);
        let asn = open.asn();
        let refused = if asn == 0 || self.config.peer_as.is_some_and(|want| want != asn) {
            let want = self
                .config
                .peer_as
                .map_or(String::new(), |w| format!(", expected {w}"));
            Some(refuse(
                subcode::BAD_PEER_AS,
                vec![],
                format!("the peer is AS {asn}{want}"),
            ))
        } else if open.hold_time == 1 || open.hold_time == 2 {
            let why = format!("the peer's hold time {} is under 3 s", open.hold_time);
            Some(refuse(subcode::UNACCEPTABLE_HOLD_TIME, vec![], why))
        } else if open.bgp_id.is_unspecified()
            || (asn == self.config.local_as && open.bgp_id == self.config.router_id)
        {
            // RFC 6286: any identifier but 0, and in iBGP not ours.
            let why = format!("the peer's BGP identifier {} is not usable", open.bgp_id);
            Some(refuse(subcode::BAD_BGP_ID, vec![], why))
        } else {
            None
        };
        if let Some((n, why)) = refused {
            return self.fail(n, why, out);
        }
        let hold_time = self.config.hold_time.min(open.hold_time);
        let families = open
            .families()
            .into_iter()
            .filter(|f| Family::ALL.contains(f))
            .collect();
        self.peer = Some(Peer {
            asn,
            id: open.bgp_id,
            hold_time,
            four_octet: open.four_octet_as().is_some(),
            families,
        });
        self.state = State::OpenConfirm;
        // With no hold time, the large one stays until the KEEPALIVE.
        self.hold_due = Some(now + self.hold().unwrap_or(OPEN_HOLD));
        self.send_keepalive(now, out);
    }

    /// The peer's KEEPALIVE in OpenConfirm. Our next KEEPALIVE goes one
    /// second after the last (RFC 4271 §4.4's shortest interval), not a
    /// third of the hold time: BIRD queues its first UPDATEs on entering
    /// Established but sends them only when its event loop next wakes (up
    /// to 3 s later), and a message from us, once it is there, wakes it.
    fn established(&mut self, now: Instant, out: &mut Output) {
        let Some(peer) = self.peer.clone() else {
            return;
        };
        self.state = State::Established;
        self.heard(now);
        out.events.push(Event::Established {
            peer_as: peer.asn,
            peer_id: peer.id,
            hold_time: peer.hold_time,
            four_octet: peer.four_octet,
            families: peer.families,
        });
        if let (Some(due), Some(sent)) = (self.keepalive_due, self.keepalive_sent) {
            self.keepalive_due = Some(due.min(sent + WAKE_UP));
        }
    }

    /// The negotiated hold time, None if it is 0.
    fn hold(&self) -> Option<Duration> {
        let secs = self.peer.as_ref().map_or(0, |p| p.hold_time);
        (secs > 0).then(|| Duration::from_secs(u64::from(secs)))
    }

    /// A message from the peer in Established restarts the hold timer.
    fn heard(&mut self, now: Instant) {
        self.hold_due = self.hold().map(|h| now + h);
    }

    fn send_keepalive(&mut self, now: Instant, out: &mut Output) {
        out.send.extend(wire::keepalive());
        self.keepalive_sent = Some(now);
        self.keepalive_due = self.hold().map(|h| now + h / 3);
    }

    fn update(&mut self, body: &[u8], out: &mut Output) {
        let Some(peer) = &self.peer else {
            return;
        };
        let ctx = UpdateContext {
            four_octet: peer.four_octet,
            ebgp: peer.asn != self.config.local_as,
        };
        let u = match wire::decode_update(body, ctx) {
            Ok(u) => u,
            Err(n) => return self.fail(n, "the peer's UPDATE could not be parsed".into(), out),
        };
        if let Some(family) = u.end_of_rib {
            out.events.push(Event::EndOfRib(family));
            return;
        }
        for p in &u.withdrawn {
            self.held.remove(p);
        }
        for (p, _) in &u.announced {
            self.held.insert(*p);
            if self.held.len() > self.config.max_prefixes {
                let (afi, safi) = p.family().afi_safi();
                let limit = u32::try_from(self.config.max_prefixes).unwrap_or(u32::MAX);
                let mut data = afi.to_be_bytes().to_vec();
                data.push(safi);
                data.extend_from_slice(&limit.to_be_bytes());
                let n = Notification::new(code::CEASE, subcode::MAX_PREFIXES, data);
                let why = format!(
                    "the peer sent more than {} prefixes",
                    self.config.max_prefixes
                );
                return self.fail(n, why, out);
            }
        }
        if u.announced.is_empty() && u.withdrawn.is_empty() {
            return;
        }
        out.events.push(Event::Update {
            announced: u.announced,
            withdrawn: u.withdrawn,
            treat_as_withdraw: u.treat_as_withdraw,
        });
    }

    /// Sends `n`, then Down and close.
    fn fail(&mut self, n: Notification, reason: String, out: &mut Output) {
        out.send.extend(n.encode());
        self.down(reason, Some(n.to_string()), None, out);
    }

    fn down(
        &mut self,
        reason: String,
        sent: Option<String>,
        received: Option<String>,
        out: &mut Output,
    ) {
        self.state = State::Closed;
        self.held = HashSet::new();
        self.hold_due = None;
        self.keepalive_due = None;
        out.events.push(Event::Down {
            reason,
            sent,
            received,
        });
    }
}

fn escaped(text: &str) -> String {
    let mut out = String::new();
    crate::log::escape_controls(text, &mut out);
    out
}

#[cfg(test)]
mod tests;
