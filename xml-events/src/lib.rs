//! The pull reader vpc-router's EC2 parser drives: a document read from any
//! `io::Read` as it arrives, 64 KiB at a time, through quick-xml's event
//! reader, compiled in this crate.
//!
//! quick-xml's reader is generic, so its code is compiled in the crate that
//! uses it. vpc-router is built for size (`opt-level = "z"`), which makes
//! the reader loop about twice as slow; this crate is built at
//! `opt-level = 3` (the root Cargo.toml's `[profile.release.package]`).
//! The per-element work of reading a Describe* answer (the next child, an
//! element's text, skipping) is here for the same reason: it runs a few
//! million times for a VPC of 200 tables x 500 routes. What the elements
//! mean (the EC2 types) stays in vpc-router; this crate knows only XML.

use std::io::{BufRead, Read};
use std::sync::Arc;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, BytesText, Event};
use quick_xml::Reader;

/// The next event of `reader`, into `buf`: [`Reader::read_event_into`].
///
/// # Errors
/// quick-xml's error for a document that is not well-formed, or that could
/// not be read.
#[inline(never)]
pub fn next<'b>(
    reader: &mut Reader<Chunks<'_>>,
    buf: &'b mut Vec<u8>,
) -> Result<Event<'b>, quick_xml::Error> {
    buf.clear();
    reader.read_event_into(buf)
}

/// How much of a document is read from its source at a time.
const CHUNK: usize = 64 * 1024;

/// The document's source, read a chunk at a time: std's `BufReader` would
/// do, but it is generic, and instantiated here (for quick-xml's reader,
/// which asks for the buffered bytes at every event) it is compiled at
/// this crate's `opt-level`.
pub struct Chunks<'r> {
    source: &'r mut dyn Read,
    buf: Box<[u8]>,
    at: usize,
    end: usize,
}

impl<'r> Chunks<'r> {
    fn new(source: &'r mut dyn Read) -> Chunks<'r> {
        Chunks {
            source,
            buf: vec![0; CHUNK].into_boxed_slice(),
            at: 0,
            end: 0,
        }
    }
}

impl Read for Chunks<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let have = self.fill_buf()?;
            let n = have.len().min(out.len());
            out[..n].copy_from_slice(&have[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Chunks<'_> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.at == self.end {
            self.end = loop {
                match self.source.read(&mut self.buf) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    read => break read?,
                }
            };
            self.at = 0;
        }
        Ok(&self.buf[self.at..self.end])
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.end);
    }
}

/// Why a document could not be read.
#[derive(Debug, Clone)]
pub enum Failure {
    /// It is not well-formed, or nests elements deeper than allowed: what
    /// was wrong, and the byte where it was found.
    Malformed { at: u64, why: String },
    /// Its root element is not the one expected; this one is.
    Root(String),
    /// Reading it failed (the connection, a size limit).
    Io(Arc<std::io::Error>),
}

/// A pull reader over one document, read as it arrives: it never holds
/// more of the document than one chunk and one event. [`Stream::child`] returns the name
/// of the next child element of the element being read; the caller then
/// reads that child with exactly one of [`Stream::text`], [`Stream::skip`]
/// or a loop of `child`. An empty element (`<x/>`) is remembered in
/// `empty`, so that callers read it like any other.
pub struct Stream<'r> {
    reader: Reader<Chunks<'r>>,
    /// The current event's bytes.
    buf: Vec<u8>,
    /// The names of the open elements, as written (prefix and all), one
    /// after the other; `opens` holds where each starts. quick-xml's own
    /// check of end tags is off: `text` reads the usual element without
    /// its events, so the names are kept here.
    open: Vec<u8>,
    opens: Vec<usize>,
    /// The bytes read here rather than by quick-xml (the usual start tag,
    /// text and end tag: see `plain_start`, `plain_text`), which its
    /// positions lack.
    skipped: u64,
    /// quick-xml is between markup (its last event was a tag, or this
    /// reader's own reading), so bytes may be read here from where it is.
    between_markup: bool,
    /// The start tag `child` returned last was read here, not by quick-xml
    /// (which then never saw the element open: see `plain_text`).
    plain_start: bool,
    max_depth: usize,
    empty: bool,
    /// The name of the child last returned, without its prefix.
    name: Vec<u8>,
    /// The text of the element last read by `text`, reused from one
    /// element to the next.
    text: String,
}

impl<'r> Stream<'r> {
    /// Opens the document `source` holds at its root element, which must
    /// be `expected` (its name without a namespace prefix); elements may
    /// nest `max_depth` deep.
    ///
    /// # Errors
    /// [`Failure::Root`] when the root is another element; the others when
    /// the document cannot be read up to its root.
    pub fn open(
        source: &'r mut dyn Read,
        expected: &str,
        max_depth: usize,
    ) -> Result<Stream<'r>, Failure> {
        let mut s = Stream {
            reader: Reader::from_reader(Chunks::new(source)),
            buf: Vec::new(),
            open: Vec::new(),
            opens: Vec::new(),
            skipped: 0,
            between_markup: false,
            plain_start: false,
            max_depth,
            empty: false,
            name: Vec::new(),
            text: String::new(),
        };
        // Elements read here are never seen open by quick-xml, so its end
        // tag checks are off: `close` makes them, on this reader's names.
        let config = s.reader.config_mut();
        config.check_end_names = false;
        config.allow_unmatched_ends = true;
        loop {
            let (start, empty) = match next(&mut s.reader, &mut s.buf) {
                Ok(Event::Start(start)) => (start, false),
                Ok(Event::Empty(start)) => (start, true),
                Ok(Event::Text(t)) if is_blank(&t) => continue,
                Ok(Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_)) => {
                    continue
                }
                Ok(Event::Eof) => return Err(malformed(&s.reader, 0, "no root element")),
                Ok(_) => return Err(malformed(&s.reader, 0, "text before the root element")),
                Err(e) => return Err(failure(&s.reader, 0, e)),
            };
            let name = local(start.name().into_inner());
            if name != expected.as_bytes() {
                return Err(Failure::Root(String::from_utf8_lossy(name).into_owned()));
            }
            if empty {
                s.empty = true;
            } else {
                open(&mut s.open, &mut s.opens, max_depth, start.name().into_inner())
                    .map_err(|why| malformed(&s.reader, 0, &why))?;
            }
            s.between_markup = true;
            return Ok(s);
        }
    }

    /// The name (without a namespace prefix) of the next child of the
    /// element being read, or `None` at its end. Text among children is
    /// ignored.
    ///
    /// # Errors
    /// [`Failure`] for a document that is not well-formed or not readable.
    pub fn child(&mut self) -> Result<Option<&[u8]>, Failure> {
        if std::mem::take(&mut self.empty) {
            return Ok(None);
        }
        if self.between_markup && self.plain_start()? {
            return Ok(Some(&self.name));
        }
        self.plain_start = false;
        // Whitespace between children (EC2 indents its answers) is then
        // no event at all; `text` turns this off for the text it reads.
        self.reader.config_mut().trim_text_start = true;
        loop {
            let event = next(&mut self.reader, &mut self.buf);
            self.between_markup = after_markup(&event);
            let (start, empty) = match event {
                Ok(Event::Start(start)) => (start, false),
                Ok(Event::Empty(start)) => (start, true),
                Ok(Event::End(end)) => {
                    close(&mut self.open, &mut self.opens, end.name().into_inner())
                        .map_err(|why| malformed(&self.reader, self.skipped, &why))?;
                    return Ok(None);
                }
                Ok(Event::GeneralRef(r)) => {
                    resolve(&r).map_err(|why| malformed(&self.reader, self.skipped, &why))?;
                    continue;
                }
                Ok(Event::Eof) => {
                    return Err(malformed(&self.reader, self.skipped, "the document ends early"))
                }
                Ok(_) => continue,
                Err(e) => return Err(failure(&self.reader, self.skipped, e)),
            };
            self.name.clear();
            self.name.extend_from_slice(local(start.name().into_inner()));
            if empty {
                self.empty = true;
            } else {
                let name = start.name().into_inner();
                open(&mut self.open, &mut self.opens, self.max_depth, name)
                    .map_err(|why| malformed(&self.reader, self.skipped, &why))?;
            }
            return Ok(Some(&self.name));
        }
    }

    /// Skips the element whose name `child` returned, with all it holds.
    ///
    /// # Errors
    /// [`Failure`] for a document that is not well-formed or not readable.
    pub fn skip(&mut self) -> Result<(), Failure> {
        while self.child()?.is_some() {
            self.skip()?;
        }
        Ok(())
    }

    /// The text of the element whose name `child` returned, trimmed;
    /// `None` when there is none (EC2 sends `<description/>` for "no
    /// value"). Entities are resolved, line ends normalised; child
    /// elements are skipped.
    ///
    /// # Errors
    /// [`Failure`] for a document that is not well-formed or not readable.
    pub fn text(&mut self) -> Result<Option<&str>, Failure> {
        self.text.clear();
        if !std::mem::take(&mut self.empty) && !self.plain_text()? {
            self.reader.config_mut().trim_text_start = false;
            loop {
                let skipped = self.skipped;
                let bad = |r: &Reader<Chunks<'_>>, e: quick_xml::encoding::EncodingError| {
                    malformed(r, skipped, &e.to_string())
                };
                let event = next(&mut self.reader, &mut self.buf);
                self.between_markup = after_markup(&event);
                match event {
                    Ok(Event::Text(t)) => match t.xml10_content() {
                        Ok(piece) => self.text.push_str(&piece),
                        Err(e) => return Err(bad(&self.reader, e)),
                    },
                    Ok(Event::CData(c)) => match c.xml10_content() {
                        Ok(piece) => self.text.push_str(&piece),
                        Err(e) => return Err(bad(&self.reader, e)),
                    },
                    Ok(Event::GeneralRef(r)) => match resolve(&r) {
                        Ok(piece) => self.text.push_str(&piece),
                        Err(why) => return Err(malformed(&self.reader, skipped, &why)),
                    },
                    Ok(Event::Start(start)) => {
                        let name = start.name().into_inner();
                        open(&mut self.open, &mut self.opens, self.max_depth, name)
                            .map_err(|why| malformed(&self.reader, skipped, &why))?;
                        self.skip()?;
                        self.reader.config_mut().trim_text_start = false;
                    }
                    Ok(Event::Empty(_)) => {}
                    Ok(Event::End(end)) => {
                        close(&mut self.open, &mut self.opens, end.name().into_inner())
                            .map_err(|why| malformed(&self.reader, skipped, &why))?;
                        break;
                    }
                    Ok(Event::Eof) => {
                        return Err(malformed(&self.reader, skipped, "the document ends early"))
                    }
                    Ok(_) => {}
                    Err(e) => return Err(failure(&self.reader, skipped, e)),
                }
            }
        }
        let t = trim(&self.text);
        Ok((!t.is_empty()).then_some(t))
    }

    /// Reads the usual start tag, `<name>` (no attribute, not empty), after
    /// the whitespace before it, straight from the chunk at hand, without
    /// quick-xml's event; `child` takes the events for anything else.
    ///
    /// # Errors
    /// [`Failure::Malformed`] when it nests too deep.
    fn plain_start(&mut self) -> Result<bool, Failure> {
        let chunks = self.reader.get_mut();
        loop {
            // A read error is the document's reading failing, whoever
            // reads: kept, not left for quick-xml to read past.
            let have = chunks.fill_buf().map_err(|e| Failure::Io(Arc::new(e)))?;
            let blank = have
                .iter()
                .take_while(|&&b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
                .count();
            if blank == 0 {
                break;
            }
            chunks.consume(blank);
            self.skipped += blank as u64;
        }
        let have = chunks.fill_buf().map_err(|e| Failure::Io(Arc::new(e)))?;
        if have.first() != Some(&b'<') {
            return Ok(false);
        }
        let Some(gt) = have.iter().position(|&b| b == b'>') else {
            return Ok(false);
        };
        let tag = &have[1..gt];
        let name_byte =
            |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b':') || *b >= 0x80;
        if tag.is_empty() || !tag.iter().all(name_byte) {
            return Ok(false);
        }
        if let Err(why) = open(&mut self.open, &mut self.opens, self.max_depth, tag) {
            return Err(malformed(&self.reader, self.skipped, &why));
        }
        self.name.clear();
        self.name.extend_from_slice(local(tag));
        chunks.consume(gt + 1);
        self.skipped += (gt + 1) as u64;
        self.plain_start = true;
        Ok(true)
    }

    /// Reads the usual element's text and end, `text</name>`, straight
    /// from the chunk at hand, without quick-xml's two events: when the
    /// text holds no markup, no reference and no carriage return (nothing
    /// to resolve or normalise) and the end tag names the element exactly,
    /// all within the bytes already read. Otherwise it reads nothing and
    /// says so; `text` then takes the events. Right after `child` returned
    /// a start tag, quick-xml is between markup (its state after any tag),
    /// so reading on from where this stops is what it would have done.
    fn plain_text(&mut self) -> Result<bool, Failure> {
        // Only for an element whose start was read here: quick-xml keeps
        // the names of the elements it saw open until it sees them closed.
        if !(self.plain_start && self.between_markup) {
            return Ok(false);
        }
        let Some(&at) = self.opens.last() else {
            return Ok(false);
        };
        let name = &self.open[at..];
        let chunks = self.reader.get_mut();
        let have = chunks.fill_buf().map_err(|e| Failure::Io(Arc::new(e)))?;
        let Some(lt) = have.iter().position(|&b| b == b'<') else {
            return Ok(false);
        };
        let (text, rest) = have.split_at(lt);
        let whole = 2 + name.len() + 1;
        let ends_here = rest.len() >= whole
            && rest[1] == b'/'
            && &rest[2..2 + name.len()] == name
            && rest[whole - 1] == b'>';
        if !ends_here || text.iter().any(|&b| b == b'&' || b == b'\r') {
            return Ok(false);
        }
        let Ok(text) = std::str::from_utf8(text) else {
            return Ok(false);
        };
        self.text.push_str(text);
        chunks.consume(lt + whole);
        self.skipped += (lt + whole) as u64;
        self.opens.pop();
        self.open.truncate(at);
        Ok(true)
    }

    /// After the root's end: only whitespace, comments and the like may
    /// follow, up to the end of the document.
    ///
    /// # Errors
    /// [`Failure`] for anything else.
    pub fn finish(&mut self) -> Result<(), Failure> {
        let skipped = self.skipped;
        loop {
            match next(&mut self.reader, &mut self.buf) {
                Ok(Event::Eof) => return Ok(()),
                Ok(Event::Text(t)) if is_blank(&t) => {}
                Ok(
                    Event::Start(_)
                    | Event::Empty(_)
                    | Event::Text(_)
                    | Event::CData(_)
                    | Event::End(_)
                    | Event::GeneralRef(_),
                ) => {
                    return Err(malformed(
                        &self.reader,
                        skipped,
                        "content after the root element",
                    ))
                }
                Ok(_) => {}
                Err(e) => return Err(failure(&self.reader, skipped, e)),
            }
        }
    }
}

/// Whether quick-xml is between markup after `event` (a tag and the like
/// end there; text ends with the next markup's `<` or `&` already read).
fn after_markup(event: &Result<Event<'_>, quick_xml::Error>) -> bool {
    matches!(
        event,
        Ok(Event::Start(_)
            | Event::Empty(_)
            | Event::End(_)
            | Event::Comment(_)
            | Event::CData(_)
            | Event::PI(_)
            | Event::Decl(_)
            | Event::DocType(_))
    )
}

/// A start tag read: its element is open, unless that nests too deep.
fn open(open: &mut Vec<u8>, opens: &mut Vec<usize>, max: usize, name: &[u8]) -> Result<(), String> {
    if opens.len() >= max {
        return Err(format!("elements nested deeper than {max}"));
    }
    opens.push(open.len());
    open.extend_from_slice(name);
    Ok(())
}

/// An end tag read: it must close the element open last.
fn close(open: &mut Vec<u8>, opens: &mut Vec<usize>, end: &[u8]) -> Result<(), String> {
    let Some(&at) = opens.last() else {
        return Err("an end tag without a start tag".into());
    };
    if open[at..] != *end {
        return Err(format!(
            "expected </{}>, found </{}>",
            String::from_utf8_lossy(&open[at..]),
            String::from_utf8_lossy(end)
        ));
    }
    opens.pop();
    open.truncate(at);
    Ok(())
}

/// A quick-xml error as a [`Failure`]: reading, or the document. Positions
/// count the `skipped` bytes, which quick-xml did not see.
fn failure(reader: &Reader<Chunks<'_>>, skipped: u64, e: quick_xml::Error) -> Failure {
    match e {
        quick_xml::Error::Io(io) => Failure::Io(io),
        e => Failure::Malformed {
            at: reader.error_position() + skipped,
            why: e.to_string(),
        },
    }
}

fn malformed(reader: &Reader<Chunks<'_>>, skipped: u64, why: &str) -> Failure {
    Failure::Malformed {
        at: reader.buffer_position() + skipped,
        why: why.to_string(),
    }
}

/// quick-xml's events over a whole document, for a reader that takes them
/// itself (vpc-router's element tree, which explains malformed answers):
/// the same instantiation of quick-xml's reader as [`Stream`]'s, so that
/// the binary holds one.
pub struct Events<'r> {
    reader: Reader<Chunks<'r>>,
    buf: Vec<u8>,
}

impl<'r> Events<'r> {
    #[must_use]
    pub fn new(source: &'r mut dyn Read) -> Events<'r> {
        Events {
            reader: Reader::from_reader(Chunks::new(source)),
            buf: Vec::new(),
        }
    }

    /// The next event, and the byte after it.
    ///
    /// # Errors
    /// quick-xml's error, and the byte where it was found.
    pub fn event(&mut self) -> Result<(Event<'_>, u64), (quick_xml::Error, u64)> {
        match next(&mut self.reader, &mut self.buf) {
            Ok(event) => Ok((event, self.reader.buffer_position())),
            Err(e) => Err((e, self.reader.error_position())),
        }
    }

    /// The byte after the last event.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.reader.buffer_position()
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
fn is_blank(t: &BytesText<'_>) -> bool {
    t.xml10_content().is_ok_and(|t| t.trim().is_empty())
}
