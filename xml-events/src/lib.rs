//! quick-xml's event reader over a byte slice, instantiated in this crate.
//!
//! quick-xml's reader is generic, so its code is compiled in the crate that
//! uses it. vpc-router is built for size (`opt-level = "z"`), which makes
//! the reader loop about twice as slow; this crate is built at
//! `opt-level = 3` (the root Cargo.toml's `[profile.release.package]`),
//! so only the reader's own code is, not the whole binary.

use quick_xml::events::Event;
use quick_xml::Reader;

/// The next event of `reader`: [`Reader::read_event`].
///
/// # Errors
/// quick-xml's error for a document that is not well-formed.
#[inline(never)]
pub fn next<'a>(reader: &mut Reader<&'a [u8]>) -> Result<Event<'a>, quick_xml::Error> {
    reader.read_event()
}
