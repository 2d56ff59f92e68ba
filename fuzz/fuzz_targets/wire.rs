//! Arbitrary bytes into the decoder: framing, then every kind of body
//! (OPEN, UPDATE on 2- and 4-octet sessions, eBGP and iBGP, NOTIFICATION
//! and its text). Nothing may panic; what decodes must re-encode and
//! decode the same where the codec promises a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vpc_router::bgp::wire::{self, Notification, Open, UpdateContext, HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    // As a stream of messages.
    let mut rest = data;
    while let Ok(Some((_, len))) = wire::frame(rest) {
        rest = &rest[len..];
    }
    // As one body of each kind, whatever the header says.
    let body = data.get(HEADER_LEN.min(data.len())..).unwrap_or_default();
    for body in [data, body] {
        if let Ok(open) = Open::decode(body) {
            let again = open.encode();
            assert_eq!(Open::decode(&again[HEADER_LEN..]).as_ref(), Ok(&open));
        }
        for four_octet in [false, true] {
            for ebgp in [false, true] {
                if let Ok(u) = wire::decode_update(body, UpdateContext { four_octet, ebgp }) {
                    assert!(
                        u.end_of_rib.is_none()
                            || (u.announced.is_empty() && u.withdrawn.is_empty())
                    );
                    assert!(u.treat_as_withdraw.is_none() || u.announced.is_empty());
                }
            }
        }
        let n = Notification::decode(body);
        let _ = n.to_string();
        assert_eq!(Notification::decode(&n.encode()[HEADER_LEN..]).code, n.code);
    }
});
