//! The pull reader vpc-router's EC2 parser drives, over quick-xml's event
//! reader on a byte slice, compiled in this crate.
//!
//! quick-xml's reader is generic, so its code is compiled in the crate that
//! uses it. vpc-router is built for size (`opt-level = "z"`), which makes
//! the reader loop about twice as slow; this crate is built at
//! `opt-level = 3` (the root Cargo.toml's `[profile.release.package]`).
//! The per-element work of reading a Describe* answer (the next child, an
//! element's text, skipping) is here for the same reason: it runs a few
//! million times for a VPC of 200 tables x 500 routes. What the elements
//! mean (the EC2 types) stays in vpc-router; this crate knows only XML.

use std::borrow::Cow;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, BytesStart, Event};
use quick_xml::Reader;

/// The next event of `reader`: [`Reader::read_event`].
///
/// # Errors
/// quick-xml's error for a document that is not well-formed.
#[inline(never)]
pub fn next<'a>(reader: &mut Reader<&'a [u8]>) -> Result<Event<'a>, quick_xml::Error> {
    reader.read_event()
}

/// The document is not well-formed, is nested deeper than allowed, or its
/// root is not the one expected. The caller reads it again with a reader
/// whose messages say what and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// A pull reader over one document. [`Stream::child`] returns the name of
/// the next child element of the element being read; the caller then reads
/// that child with exactly one of [`Stream::text`], [`Stream::skip`] or a
/// loop of `child`. An empty element (`<x/>`) is remembered in `empty`, so
/// that callers read it like any other.
pub struct Stream<'a> {
    xml: &'a str,
    reader: Reader<&'a [u8]>,
    depth: usize,
    max_depth: usize,
    empty: bool,
    /// The text of the element last read by `text`, when it came in pieces
    /// (an entity, CDATA), reused from one element to the next.
    text: String,
}

impl<'a> Stream<'a> {
    /// Opens `xml` at its root element, which must be `expected` (its name
    /// without a namespace prefix); elements may nest `max_depth` deep.
    ///
    /// # Errors
    /// [`Malformed`] when the document does not start with that root.
    pub fn open(xml: &'a str, expected: &str, max_depth: usize) -> Result<Stream<'a>, Malformed> {
        let mut s = Stream {
            xml,
            reader: Reader::from_str(xml),
            depth: 0,
            max_depth,
            empty: false,
            text: String::new(),
        };
        loop {
            match s.event()? {
                Event::Start(start) if local(start.name().into_inner()) == expected.as_bytes() => {
                    s.enter()?;
                    return Ok(s);
                }
                Event::Empty(start) if local(start.name().into_inner()) == expected.as_bytes() => {
                    s.empty = true;
                    return Ok(s);
                }
                Event::Text(t) if is_blank(&t) => {}
                Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
                _ => return Err(Malformed),
            }
        }
    }

    fn event(&mut self) -> Result<Event<'a>, Malformed> {
        next(&mut self.reader).map_err(|_| Malformed)
    }

    fn enter(&mut self) -> Result<(), Malformed> {
        if self.depth >= self.max_depth {
            return Err(Malformed);
        }
        self.depth += 1;
        Ok(())
    }

    /// The name (without a namespace prefix) of the next child of the
    /// element being read, or `None` at its end. Text among children is
    /// ignored.
    ///
    /// # Errors
    /// [`Malformed`] for a document that is not well-formed.
    pub fn child(&mut self) -> Result<Option<&'a [u8]>, Malformed> {
        if std::mem::take(&mut self.empty) {
            return Ok(None);
        }
        // Whitespace between children (EC2 indents its answers) is then
        // no event at all; `text` turns this off for the text it reads.
        self.reader.config_mut().trim_text_start = true;
        loop {
            match self.event()? {
                Event::Start(start) => {
                    self.enter()?;
                    return self.name(&start).map(Some);
                }
                Event::Empty(start) => {
                    self.empty = true;
                    return self.name(&start).map(Some);
                }
                Event::End(_) => {
                    self.depth -= 1;
                    return Ok(None);
                }
                Event::GeneralRef(r) => {
                    resolve(&r).map_err(|_| Malformed)?;
                }
                Event::Eof => return Err(Malformed),
                _ => {}
            }
        }
    }

    /// Skips the element whose name `child` returned, with all it holds.
    ///
    /// # Errors
    /// [`Malformed`] for a document that is not well-formed.
    pub fn skip(&mut self) -> Result<(), Malformed> {
        while self.child()?.is_some() {
            self.skip()?;
        }
        Ok(())
    }

    /// The text of the element whose name `child` returned, trimmed;
    /// `None` when there is none (EC2 sends `<description/>` for "no
    /// value"). Entities are resolved; child elements are skipped.
    ///
    /// # Errors
    /// [`Malformed`] for a document that is not well-formed.
    pub fn text(&mut self) -> Result<Option<&str>, Malformed> {
        self.text.clear();
        // The usual element holds one piece of text, used where it lies in
        // the document; only text in pieces (an entity, CDATA) is copied.
        let mut only: Option<&'a str> = None;
        if !std::mem::take(&mut self.empty) {
            self.reader.config_mut().trim_text_start = false;
            loop {
                let piece: Cow<'a, str> = match self.event()? {
                    Event::Text(t) => match t.clone().into_inner() {
                        // A line end to normalise is the only thing that
                        // makes the text differ from the bytes.
                        Cow::Borrowed(b) if !b.contains(&b'\r') => match self.within(b) {
                            Some(text) => Cow::Borrowed(text),
                            None => t.xml10_content().map_err(|_| Malformed)?,
                        },
                        _ => t.xml10_content().map_err(|_| Malformed)?,
                    },
                    Event::CData(c) => c.xml10_content().map_err(|_| Malformed)?,
                    Event::GeneralRef(r) => Cow::Owned(resolve(&r).map_err(|_| Malformed)?),
                    Event::Start(_) => {
                        self.enter()?;
                        self.skip()?;
                        self.reader.config_mut().trim_text_start = false;
                        continue;
                    }
                    Event::End(_) => {
                        self.depth -= 1;
                        break;
                    }
                    Event::Eof => return Err(Malformed),
                    _ => continue,
                };
                match (only, piece) {
                    (None, Cow::Borrowed(b)) if self.text.is_empty() => only = Some(b),
                    (first, piece) => {
                        if let Some(first) = first {
                            self.text.push_str(first);
                            only = None;
                        }
                        self.text.push_str(&piece);
                    }
                }
            }
        }
        let t = trim(only.unwrap_or(&self.text));
        Ok((!t.is_empty()).then_some(t))
    }

    /// A start tag's name without its prefix, as it lies in the document.
    fn name(&self, start: &BytesStart<'_>) -> Result<&'a [u8], Malformed> {
        let name = local(start.name().into_inner());
        let at = (name.as_ptr() as usize)
            .checked_sub(self.xml.as_ptr() as usize)
            .ok_or(Malformed)?;
        self.xml.as_bytes().get(at..at + name.len()).ok_or(Malformed)
    }

    /// `bytes`, a piece of the document, as the text it is there: the
    /// document is a `str` already, so it need not be checked again.
    fn within(&self, bytes: &[u8]) -> Option<&'a str> {
        let start = (bytes.as_ptr() as usize).checked_sub(self.xml.as_ptr() as usize)?;
        self.xml.get(start..start + bytes.len())
    }

    /// After the root's end: only whitespace, comments and the like may
    /// follow.
    ///
    /// # Errors
    /// [`Malformed`] for anything else.
    pub fn finish(&mut self) -> Result<(), Malformed> {
        loop {
            match self.event()? {
                Event::Eof => return Ok(()),
                Event::Text(t) if is_blank(&t) => {}
                Event::Start(_)
                | Event::Empty(_)
                | Event::Text(_)
                | Event::CData(_)
                | Event::End(_)
                | Event::GeneralRef(_) => return Err(Malformed),
                _ => {}
            }
        }
    }
}

/// The text an entity or character reference stands for. Only XML's five
/// predefined entities exist in EC2 and STS documents, which have no DTD.
///
/// # Errors
/// What is wrong with the reference, in words.
pub fn resolve(reference: &BytesRef<'_>) -> Result<String, String> {
    let name = reference.decode().map_err(|e| e.to_string())?;
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) => Ok(c.to_string()),
            _ => Err(format!("invalid character reference &{name};")),
        };
    }
    resolve_predefined_entity(&name)
        .map(str::to_string)
        .ok_or_else(|| format!("unknown entity &{name};"))
}

/// An element's name without its namespace prefix, if any: what
/// `local_name` gives, by a plain scan (EC2's names are short, and
/// `memchr`'s setup cost more than the scan; this runs for every element).
fn local(name: &[u8]) -> &[u8] {
    match name.iter().rposition(|&b| b == b':') {
        Some(colon) => &name[colon + 1..],
        None => name,
    }
}

/// `str::trim`, with a shortcut for the usual text that starts and ends
/// with a visible ASCII character.
fn trim(t: &str) -> &str {
    let visible = |b: Option<&u8>| b.is_some_and(u8::is_ascii_graphic);
    if visible(t.as_bytes().first()) && visible(t.as_bytes().last()) {
        t
    } else {
        t.trim()
    }
}

/// Whitespace around the root is fine; anything else means the body is not
/// (only) an XML document, such as a proxy's plain-text error.
fn is_blank(t: &quick_xml::events::BytesText<'_>) -> bool {
    t.xml10_content().is_ok_and(|t| t.trim().is_empty())
}
