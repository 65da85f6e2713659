//! The little HTTP/1.1 that Docker's plugin client speaks: POST requests
//! with a JSON body and Content-Length, JSON answers. Pure, so that every
//! malformed input is covered by unit tests.

/// Largest request accepted (headers and body).
pub const MAX_REQUEST: usize = 1 << 20;

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

/// Parse one request from the start of `buf`.
pub fn parse(buf: &[u8]) -> Parse {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_REQUEST {
            Parse::Bad("request headers too long".into())
        } else {
            Parse::Incomplete
        };
    };
    let Ok(head) = std::str::from_utf8(&buf[..end]) else {
        return Parse::Bad("request headers are not UTF-8".into());
    };
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let (Some(method), Some(path), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Parse::Bad(format!("malformed request line {first:?}"));
    };
    if !version.starts_with("HTTP/1.") {
        return Parse::Bad(format!("unsupported protocol {version:?}"));
    }
    let mut length = 0usize;
    let mut close = version == "HTTP/1.0";
    for l in lines {
        let Some((name, value)) = l.split_once(':') else {
            return Parse::Bad(format!("malformed header {l:?}"));
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => match value.parse::<usize>() {
                Ok(n) if n <= MAX_REQUEST => length = n,
                _ => return Parse::Bad(format!("bad Content-Length {value:?}")),
            },
            "transfer-encoding" if !value.eq_ignore_ascii_case("identity") => {
                return Parse::Bad("chunked request bodies are not supported".into());
            }
            "connection" => close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let start = end + 4;
    if buf.len() < start + length {
        return Parse::Incomplete;
    }
    Parse::Done(
        Request {
            method: method.to_string(),
            path: path.to_string(),
            body: buf[start..start + length].to_vec(),
            close,
        },
        start + length,
    )
}

/// An HTTP/1.1 response with a JSON body.
pub fn response(status: u16, body: &serde_json::Value) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
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
