//! `mastra-gateway healthcheck`: a container health check without curl (the runtime image is
//! distroless). One blocking HTTP/1.1 `GET` over a plain TCP connection, std only; healthy means
//! status 200.
//!
//! Without `--url` it asks the admin listener of the configuration it is given (the same file,
//! environment and flags as the server, so `MASTRA_GATEWAY__SERVER__ADMIN_LISTEN` applies too)
//! for `/healthz`, on loopback when that listener is bound to all interfaces.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The liveness path of the admin listener.
pub const HEALTHZ_PATH: &str = "/healthz";

/// The default timeout of the whole check (connect, send, read the status line).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);

/// The `/healthz` URL of an admin listener bound to `admin_listen`: an unspecified address
/// (`0.0.0.0`, `[::]`) is reached on loopback.
pub fn healthz_url(admin_listen: SocketAddr) -> String {
    let ip = match admin_listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!(
        "http://{}{HEALTHZ_PATH}",
        SocketAddr::new(ip, admin_listen.port())
    )
}

/// GETs `url` (plain `http://` only) and returns the status code, or why there is none.
pub fn get_status(url: &str, timeout: Duration) -> Result<u16, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    if parsed.scheme() != "http" {
        return Err(format!(
            "only http:// URLs are supported, not {:?}",
            parsed.scheme()
        ));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| format!("no host in {url:?}"))?;
    let port = parsed.port_or_known_default().unwrap_or(80);
    let deadline = Instant::now() + timeout;
    // `host_str` keeps the brackets of an IPv6 literal; the resolver wants it bare.
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = (bare, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let mut last_error = format!("{host} resolves to no address");
    let mut stream = None;
    for addr in addrs {
        let left = remaining(deadline)?;
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = format!("cannot connect to {addr}: {e}"),
        }
    }
    let mut stream = stream.ok_or(last_error)?;
    let mut target = parsed.path().to_string();
    if let Some(q) = parsed.query() {
        target.push('?');
        target.push_str(q);
    }
    let host_header = match parsed.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_string(),
    };
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: mastra-gateway-healthcheck\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    );
    stream
        .set_write_timeout(Some(remaining(deadline)?))
        .map_err(|e| e.to_string())?;
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("cannot send the request: {e}"))?;
    // The status line is all we need: read until its end (or the connection closes).
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 8192 {
        stream
            .set_read_timeout(Some(remaining(deadline)?))
            .map_err(|e| e.to_string())?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("no answer: {e}")),
        }
    }
    parse_status_line(&head)
}

fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err("timed out".to_string())
    } else {
        Ok(left)
    }
}

/// The status code of `HTTP/1.x NNN reason`.
fn parse_status_line(head: &[u8]) -> Result<u16, String> {
    let line_end = head
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let mut parts = line.split_whitespace();
    match (parts.next(), parts.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") && code.len() == 3 => code
            .parse()
            .map_err(|_| format!("not an HTTP status line: {line:?}")),
        _ if line.is_empty() => Err("the connection closed without an answer".to_string()),
        _ => Err(format!("not an HTTP status line: {line:?}")),
    }
}

/// `3`, `3s`, `2.5s` or `500ms` as a duration (the `--timeout` of the subcommand).
pub fn parse_timeout(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (number, scale) = if let Some(ms) = s.strip_suffix("ms") {
        (ms, 0.001)
    } else {
        (s.strip_suffix('s').unwrap_or(s), 1.0)
    };
    match number.trim().parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 && n * scale <= 3600.0 => {
            Ok(Duration::from_secs_f64(n * scale))
        }
        _ => Err(format!(
            "expected a positive duration such as 3s or 500ms, not {s:?}"
        )),
    }
}

/// Healthy when `url` answers 200; otherwise the reason.
pub fn check(url: &str, timeout: Duration) -> Result<(), String> {
    match get_status(url, timeout)? {
        200 => Ok(()),
        status => Err(format!("{url} answered {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Serves one connection with `answer` (after reading the request head), on a thread.
    fn serve_once(answer: &'static [u8]) -> (String, std::thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 512];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                req.extend_from_slice(&buf[..n]);
            }
            s.write_all(answer).unwrap();
            String::from_utf8(req).unwrap()
        });
        (format!("http://{addr}{HEALTHZ_PATH}"), handle)
    }

    #[test]
    fn healthy_on_200_and_sends_a_plain_get() {
        let (url, server) = serve_once(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        assert_eq!(check(&url, DEFAULT_TIMEOUT), Ok(()));
        let request = server.join().unwrap();
        assert!(
            request.starts_with("GET /healthz HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("\r\nHost: 127.0.0.1:"), "{request}");
        assert!(request.contains("\r\nConnection: close\r\n"), "{request}");
    }

    #[test]
    fn unhealthy_on_other_statuses_and_garbage() {
        let (url, server) = serve_once(b"HTTP/1.1 503 Service Unavailable\r\n\r\n");
        let err = check(&url, DEFAULT_TIMEOUT).unwrap_err();
        assert!(err.contains("answered 503"), "{err}");
        server.join().unwrap();

        let (url, server) = serve_once(b"SSH-2.0-OpenSSH\r\n");
        let err = check(&url, DEFAULT_TIMEOUT).unwrap_err();
        assert!(err.contains("not an HTTP status line"), "{err}");
        server.join().unwrap();

        let (url, server) = serve_once(b"");
        let err = check(&url, DEFAULT_TIMEOUT).unwrap_err();
        assert!(err.contains("without an answer"), "{err}");
        server.join().unwrap();
    }

    #[test]
    fn unhealthy_when_nothing_listens_or_nothing_answers() {
        // A port that was free a moment ago.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = check(&format!("http://127.0.0.1:{port}/healthz"), DEFAULT_TIMEOUT).unwrap_err();
        assert!(err.contains("cannot connect"), "{err}");

        // Accepts, never answers: the timeout ends the check.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/healthz", listener.local_addr().unwrap());
        let started = Instant::now();
        let err = check(&url, Duration::from_millis(300)).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(3), "{err}");
        drop(listener);
    }

    #[test]
    fn refuses_what_it_cannot_speak() {
        assert!(check("https://127.0.0.1:9090/healthz", DEFAULT_TIMEOUT)
            .unwrap_err()
            .contains("only http://"));
        assert!(check("not a url", DEFAULT_TIMEOUT)
            .unwrap_err()
            .contains("invalid URL"));
    }

    #[test]
    fn url_of_the_admin_listener() {
        assert_eq!(
            healthz_url("0.0.0.0:9090".parse().unwrap()),
            "http://127.0.0.1:9090/healthz"
        );
        assert_eq!(
            healthz_url("[::]:9091".parse().unwrap()),
            "http://[::1]:9091/healthz"
        );
        assert_eq!(
            healthz_url("10.1.2.3:9090".parse().unwrap()),
            "http://10.1.2.3:9090/healthz"
        );
    }

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("3s"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_timeout("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_timeout("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timeout("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_timeout("0s").is_err());
        assert!(parse_timeout("-1").is_err());
        assert!(parse_timeout("soon").is_err());
    }

    #[test]
    fn status_line_parsing() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Ok(200));
        assert_eq!(parse_status_line(b"HTTP/1.0 404 Not Found\r\n"), Ok(404));
        assert!(parse_status_line(b"HTTP/2 200\r\n").is_err());
        assert!(parse_status_line(b"HTTP/1.1 20x OK\r\n").is_err());
    }
}
