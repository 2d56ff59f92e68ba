//! The tests' HTTP server (`tests/common/http.rs`) on its own: whole
//! answers, streamed answers read chunk by chunk (raw and through ureq),
//! answers held open and then ended or cut, and what it records.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::http::{Response, Server};

const WAIT: Duration = Duration::from_secs(5);

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// A server that streams `/watch` and answers anything else whole.
fn watch_server() -> Server {
    Server::start(|req| match req.path() {
        "/watch" => Response::stream(200).header("Content-Type", "application/json"),
        _ => Response::new(200, "plain").header("Content-Type", "text/plain"),
    })
}

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// Reads from `s` until what was read ends with `end`.
fn read_until(s: &mut TcpStream, end: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0; 4096];
    while !String::from_utf8_lossy(&got).ends_with(end) {
        let n = s
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("{e} after {:?}", String::from_utf8_lossy(&got)));
        assert!(
            n > 0,
            "closed after {:?}, expected it to end with {end:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).unwrap()
}

/// Nothing arrives on `s` for a while: the answer is held open.
fn assert_silent(s: &mut TcpStream) {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut buf = [0; 64];
    match s.read(&mut buf) {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
        other => panic!(
            "expected silence, got {other:?}: {:?}",
            String::from_utf8_lossy(&buf)
        ),
    }
    s.set_read_timeout(Some(WAIT)).unwrap();
}

#[test]
fn a_plain_answer_and_the_requests_recorded() {
    let server = Server::start(|req| {
        Response::new(201, format!("{} {}", req.method, req.text())).header("X-Test", "yes")
    });
    let agent = agent();
    let mut resp = agent
        .post(format!("{}/a/b?x=1", server.url()))
        .header("X-Mine", "m")
        .send("Action=Go&K=a%20b")
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    assert_eq!(resp.headers()["x-test"], "yes");
    assert_eq!(
        resp.body_mut().read_to_string().unwrap(),
        "POST Action=Go&K=a%20b"
    );
    let mut resp = agent.get(format!("{}/c", server.url())).call().unwrap();
    assert_eq!(resp.body_mut().read_to_string().unwrap(), "GET ");

    let seen = server.requests();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path(), seen[0].query()),
        ("POST", "/a/b", "x=1")
    );
    assert_eq!(seen[0].header("x-mine"), Some("m"));
    assert_eq!(seen[0].header("X-MINE"), Some("m"));
    assert_eq!(
        common::http::decode_form(&seen[0].text()),
        [("Action".into(), "Go".into()), ("K".into(), "a b".into())]
    );
    assert_eq!(
        (seen[1].method.as_str(), seen[1].target.as_str()),
        ("GET", "/c")
    );
    // Both on one kept-alive connection.
    assert_eq!(server.connections(), 1);
}

#[test]
fn a_chunked_request_body_is_read_whole() {
    let server = Server::start(|req| Response::new(200, req.body.clone()));
    let mut s = connect(&server);
    s.write_all(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
          3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: t\r\n\r\n",
    )
    .unwrap();
    let got = read_until(&mut s, "abcde");
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert_contains!(got, "Content-Length: 5\r\n");
    assert_eq!(server.requests()[0].body, b"abcde");
}

#[test]
fn a_malformed_request_is_refused_and_the_connection_closed() {
    let server = Server::start(|_| Response::new(200, "never"));
    let mut s = connect(&server);
    s.write_all(b"NONSENSE\r\n\r\n").unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    assert!(got.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{got}");
    assert!(got.ends_with("bad request line 'NONSENSE'"), "{got}");
    assert!(server.requests().is_empty());
}

#[test]
fn a_streamed_answer_arrives_chunk_by_chunk_on_the_wire() {
    let server = watch_server();
    let mut s = connect(&server);
    s.write_all(b"GET /watch?key=a HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut stream = server.next_stream(WAIT);
    assert_eq!(stream.request.target, "/watch?key=a");

    let head = read_until(&mut s, "\r\n\r\n");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert_contains!(head, "Content-Type: application/json\r\n");
    assert_contains!(head, "Transfer-Encoding: chunked\r\n");
    assert_not_contains!(head.to_ascii_lowercase(), "content-length");

    stream.send("{\"n\":1}\n").unwrap();
    assert_eq!(
        read_until(&mut s, "\n\r\n"),
        "8\r\n{\"n\":1}\n\r\n",
        "one chunk: its size in hex, the data"
    );
    // An empty send is not the end of the body.
    stream.send("").unwrap();
    let long = "x".repeat(300);
    stream.send(&long).unwrap();
    assert_eq!(
        read_until(&mut s, &format!("{long}\r\n")),
        format!("12c\r\n{long}\r\n")
    );

    stream.finish().unwrap();
    assert_eq!(read_until(&mut s, "\r\n\r\n"), "0\r\n\r\n");
    // The connection carries the next request.
    s.write_all(b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(read_until(&mut s, "plain").starts_with("HTTP/1.1 200 OK"));
    assert_eq!(server.connections(), 1);
}

#[test]
fn a_streamed_answer_is_read_chunk_by_chunk_with_ureq() {
    let server = watch_server();
    let url = format!("{}/watch", server.url());
    let client = std::thread::spawn(move || {
        let resp = agent().get(&url).call().unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        resp.into_body().into_reader()
    });
    let mut stream = server.next_stream(WAIT);
    let mut body = client.join().unwrap();

    let mut buf = [0; 64];
    for event in ["one\n", "two\n", "three\n"] {
        stream.send(event).unwrap();
        // Each chunk can be read before the next one is even sent.
        let mut got = Vec::new();
        while got.len() < event.len() {
            let n = body.read(&mut buf).unwrap();
            assert!(n > 0, "the body ended after {got:?}");
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(String::from_utf8(got).unwrap(), event);
    }
    stream.finish().unwrap();
    assert_eq!(body.read(&mut buf).unwrap(), 0, "the end of the body");
}

#[test]
fn a_held_open_answer_ends_when_the_test_cuts_it() {
    let server = watch_server();
    let mut s = connect(&server);
    s.write_all(b"GET /watch HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut stream = server.next_stream(WAIT);
    read_until(&mut s, "\r\n\r\n");
    stream.send("first").unwrap();
    read_until(&mut s, "first\r\n");
    assert_silent(&mut s);

    stream.cut();
    // The connection closes without the last chunk.
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"");
}

#[test]
fn a_held_open_answer_cut_is_an_error_for_ureq() {
    let server = watch_server();
    let url = format!("{}/watch", server.url());
    let client = std::thread::spawn(move || {
        let mut resp = agent().get(&url).call().unwrap();
        resp.body_mut().read_to_string()
    });
    let mut stream = server.next_stream(WAIT);
    stream.send("partial").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(!client.is_finished(), "the answer is held open");
    stream.cut();
    let read = client.join().unwrap();
    assert!(read.is_err(), "{read:?}");
}

#[test]
fn dropping_the_stream_ends_the_answer_and_dropping_the_server_cuts_it() {
    let server = watch_server();
    let mut s = connect(&server);
    s.write_all(b"GET /watch HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    drop(server.next_stream(WAIT));
    read_until(&mut s, "\r\n\r\n0\r\n\r\n");

    s.write_all(b"GET /watch HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut stream = server.next_stream(WAIT);
    read_until(&mut s, "\r\n\r\n");
    let addr = server.addr();
    let started = Instant::now();
    drop(server);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"");
    assert!(stream.send("late").is_err());
    assert!(TcpStream::connect(addr).is_err(), "still listening");
}
