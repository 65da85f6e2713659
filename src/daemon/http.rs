//! The little HTTP/1.1 that Docker's plugin client speaks: POST requests
//! with a JSON body and Content-Length, JSON answers. Pure, so that every
//! malformed input is covered by unit tests.
//!
//! A `Parser` reads a request as its bytes arrive and looks at each byte a
//! bounded number of times (the header search resumes where it stopped and
//! the headers are read once), so a request costs time linear in its size.
//! Headers longer than `MAX_HEADER` or a body longer than `MAX_BODY` are
//! refused before they are buffered.

/// Longest request line and headers accepted, with the blank line ending them.
pub const MAX_HEADER: usize = 16 * 1024;
/// Largest body accepted (the engine's requests are a few hundred bytes).
pub const MAX_BODY: usize = 1 << 20;
/// Largest request accepted (headers and body).
pub const MAX_REQUEST: usize = MAX_HEADER + MAX_BODY;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: Vec<u8>,
    /// The client asked to close the connection after this answer.
    pub close: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parse {
    /// Need more bytes.
    Incomplete,
    /// A whole request, and how many bytes of the buffer it used.
    Done(Request, usize),
    /// Not a request this server can answer; answer 400 and close.
    Bad(String),
}

/// The request line and headers, once read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    method: String,
    path: String,
    close: bool,
    /// Where the body starts in the buffer.
    body_start: usize,
    length: usize,
}

/// One request read incrementally from the start of a growing buffer. Give
/// it the whole buffer each time more bytes arrived; after `Done` it starts
/// afresh (the caller removes the bytes used from the buffer).
#[derive(Debug, Default)]
pub struct Parser {
    /// How far the search for the end of the headers got.
    searched: usize,
    head: Option<Head>,
}

impl Parser {
    pub fn new() -> Parser {
        Parser::default()
    }

    /// Parse one request from the start of `buf`, which holds the bytes of
    /// the earlier calls followed by new ones.
    pub fn next(&mut self, buf: &[u8]) -> Parse {
        if self.head.is_none() {
            // The terminator may straddle what was searched and what is new.
            let from = self.searched.saturating_sub(3);
            let limit = buf.len().min(MAX_HEADER);
            let found = buf
                .get(from..limit)
                .and_then(|b| b.windows(4).position(|w| w == b"\r\n\r\n"))
                .map(|p| from + p);
            let Some(end) = found else {
                self.searched = limit;
                return if buf.len() >= MAX_HEADER {
                    Parse::Bad("request headers too long".into())
                } else {
                    Parse::Incomplete
                };
            };
            match head(&buf[..end]) {
                Ok(h) => self.head = Some(h),
                Err(msg) => return Parse::Bad(msg),
            }
        }
        let Some(h) = &self.head else {
            return Parse::Incomplete;
        };
        let Some(body) = buf.get(h.body_start..h.body_start + h.length) else {
            return Parse::Incomplete;
        };
        let used = h.body_start + h.length;
        let req = Request {
            method: h.method.clone(),
            path: h.path.clone(),
            body: body.to_vec(),
            close: h.close,
        };
        *self = Parser::default();
        Parse::Done(req, used)
    }
}

/// Parse one request from the start of `buf` (all of it at once).
pub fn parse(buf: &[u8]) -> Parse {
    Parser::new().next(buf)
}

/// The request line and headers, `head` without the blank line ending them.
fn head(head: &[u8]) -> Result<Head, String> {
    let Ok(head) = std::str::from_utf8(head) else {
        return Err("request headers are not UTF-8".into());
    };
    let body_start = head.len() + 4;
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("malformed request line {first:?}"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(format!("unsupported protocol {version:?}"));
    }
    let mut length = 0usize;
    let mut close = version == "HTTP/1.0";
    for l in lines {
        let Some((name, value)) = l.split_once(':') else {
            return Err(format!("malformed header {l:?}"));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => match value.parse::<usize>() {
                Ok(n) if n <= MAX_BODY => length = n,
                _ => return Err(format!("bad Content-Length {value:?}")),
            },
            "transfer-encoding" if !value.eq_ignore_ascii_case("identity") => {
                return Err("chunked request bodies are not supported".into());
            }
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    Ok(Head {
        method: method.to_string(),
        path: path.to_string(),
        close,
        body_start,
        length,
    })
}

/// An HTTP/1.1 response with a JSON body.
pub fn response(status: u16, body: &serde_json::Value) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    };
    let body = body.to_string();
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/vnd.docker.plugins.v1+json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_request_with_body() {
        let raw =
            b"POST /Plugin.Activate HTTP/1.1\r\nHost: plugin\r\nContent-Length: 2\r\n\r\n{}extra";
        match parse(raw) {
            Parse::Done(r, n) => {
                assert_eq!(
                    (
                        r.method.as_str(),
                        r.path.as_str(),
                        r.body.as_slice(),
                        r.close
                    ),
                    ("POST", "/Plugin.Activate", &b"{}"[..], false)
                );
                assert_eq!(n, raw.len() - 5);
            }
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn partial_requests_wait_for_more() {
        let raw = b"POST /x HTTP/1.1\r\nContent-Length: 10\r\n\r\n{\"a\":";
        assert_eq!(parse(raw), Parse::Incomplete);
        assert_eq!(parse(b"POST /x HTTP/1.1\r\nContent-Le"), Parse::Incomplete);
    }

    #[test]
    fn no_body_and_connection_close() {
        match parse(b"POST /x HTTP/1.1\r\nconnection: Close\r\n\r\n") {
            Parse::Done(r, _) => assert!(r.body.is_empty() && r.close),
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn malformed_requests_are_refused_not_panicked_on() {
        for raw in [
            &b"GARBAGE\r\n\r\n"[..],
            b"POST /x SPDY/3\r\n\r\n",
            b"POST /x HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST /x HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n",
            b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"POST /x HTTP/1.1\r\nno colon\r\n\r\n",
            b"POST /x HTTP/1.1\r\n\xff: 1\r\n\r\n",
        ] {
            assert!(
                matches!(parse(raw), Parse::Bad(_)),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
        assert!(matches!(parse(&vec![b'a'; MAX_REQUEST + 1]), Parse::Bad(_)));
    }

    fn with_header_of(total: usize) -> Vec<u8> {
        // Request line, one long header, blank line: `total` bytes in all.
        let start = b"POST /x HTTP/1.1\r\nX: ";
        let mut v = start.to_vec();
        v.resize(total - 4, b'a');
        v.extend_from_slice(b"\r\n\r\n");
        v
    }

    #[test]
    fn headers_up_to_the_limit_are_read_and_longer_ones_refused_without_waiting_for_their_end() {
        let at_limit = with_header_of(MAX_HEADER);
        assert!(matches!(parse(&at_limit), Parse::Done(_, n) if n == MAX_HEADER));
        assert!(matches!(
            parse(&with_header_of(MAX_HEADER + 1)),
            Parse::Bad(m) if m.contains("too long")
        ));
        // No end in sight after MAX_HEADER bytes: refused at once.
        let endless = vec![b'a'; MAX_HEADER];
        assert!(matches!(parse(&endless), Parse::Bad(_)));
        assert_eq!(parse(&endless[..MAX_HEADER - 1]), Parse::Incomplete);
    }

    #[test]
    fn bodies_up_to_the_limit_are_read_and_longer_ones_refused_before_they_arrive() {
        let head = format!("POST /x HTTP/1.1\r\nContent-Length: {MAX_BODY}\r\n\r\n");
        let mut raw = head.clone().into_bytes();
        raw.resize(head.len() + MAX_BODY, b' ');
        assert!(matches!(parse(&raw), Parse::Done(r, _) if r.body.len() == MAX_BODY));
        let over = format!(
            "POST /x HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert!(matches!(parse(over.as_bytes()), Parse::Bad(_)));
    }

    #[test]
    fn a_request_fed_a_byte_at_a_time_is_searched_once_and_read_as_a_whole_one() {
        let raw = b"POST /IpamDriver.RequestPool HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n{\"a\":1}POST";
        let mut p = Parser::new();
        let mut buf = Vec::new();
        let mut done = None;
        for (i, b) in raw.iter().enumerate() {
            buf.push(*b);
            match p.next(&buf) {
                Parse::Incomplete => {
                    // The search resumes where it stopped: every byte is
                    // looked at a bounded number of times.
                    if p.head.is_none() {
                        assert_eq!(p.searched, buf.len(), "at byte {i}");
                    }
                }
                Parse::Done(r, n) => {
                    done = Some((r, n));
                    break;
                }
                Parse::Bad(m) => panic!("{m}"),
            }
        }
        let (r, n) = done.expect("a whole request");
        assert_eq!(Parse::Done(r, n), parse(raw));
        // The parser starts afresh for the next request.
        assert_eq!((p.searched, p.head.is_none()), (0, true));
    }

    #[test]
    fn response_has_length_and_json() {
        let r = String::from_utf8(response(
            200,
            &serde_json::json!({"Implements": ["IpamDriver"]}),
        ))
        .unwrap();
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(r.contains("Content-Length: 29\r\n"), "{r}");
        assert!(r.ends_with("\r\n\r\n{\"Implements\":[\"IpamDriver\"]}"));
    }
}
