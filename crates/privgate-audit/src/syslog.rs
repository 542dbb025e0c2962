//! Forwarding lines to syslog: RFC 5424 messages over TCP (octet counting, RFC 6587) or
//! UDP (RFC 5426).
//!
//! A message is `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG`: TIMESTAMP is the
//! event's `time`, MSGID its `kind`, MSG the record line exactly as in the file, so a SIEM
//! can verify it too. Severity is `warning` for alerts and stream aborts and
//! `informational` otherwise. The sender never blocks the chain: `auditor.rs` runs it on a
//! thread of its own behind a bounded queue. This module does not seal or store anything.

use std::io::{self, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use crate::config::{is_header_field, SyslogConfig, Transport};

/// Severity `warning` (RFC 5424 §6.2.1).
const WARNING: u8 = 4;
/// Severity `informational`.
const INFO: u8 = 6;
/// How long a connect or a write may take before the message counts as failed.
const NET_TIMEOUT: Duration = Duration::from_secs(2);
/// After a failure, how long to wait before trying the server again.
const BACKOFF: Duration = Duration::from_secs(1);

/// The syslog severity of an event kind.
pub(crate) fn severity(kind: &str) -> u8 {
    match kind {
        "alert" | "stream_abort" => WARNING,
        _ => INFO,
    }
}

/// The machine's host name for HOSTNAME, or `-` (RFC 5424's NILVALUE).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| is_header_field(h, 255))
        .unwrap_or_else(|| "-".to_owned())
}

/// Formats RFC 5424 messages for one configuration.
#[derive(Debug, Clone)]
pub(crate) struct Formatter {
    facility: u8,
    hostname: String,
    app_name: String,
    procid: String,
}

impl Formatter {
    pub fn new(cfg: &SyslogConfig) -> Formatter {
        Formatter {
            facility: cfg.facility.code(),
            hostname: cfg.hostname.clone().unwrap_or_else(host_name),
            app_name: cfg.app_name.clone(),
            procid: std::process::id().to_string(),
        }
    }

    /// One message (without framing).
    pub fn message(&self, time: &str, kind: &str, line: &str) -> String {
        let pri = u16::from(self.facility) * 8 + u16::from(severity(kind));
        format!(
            "<{pri}>1 {time} {} {} {} {kind} - {line}",
            self.hostname, self.app_name, self.procid
        )
    }
}

enum Conn {
    Tcp(Option<TcpStream>),
    Udp(Option<UdpSocket>),
}

/// A connection to the syslog server, reconnecting after failures.
pub(crate) struct Sender {
    address: String,
    conn: Conn,
    retry_at: Option<Instant>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl Sender {
    pub fn new(cfg: &SyslogConfig) -> Sender {
        Sender {
            address: cfg.address.clone(),
            conn: match cfg.transport {
                Transport::Tcp => Conn::Tcp(None),
                Transport::Udp => Conn::Udp(None),
            },
            retry_at: None,
        }
    }

    /// Sends one message. A failure drops the connection; the next message after the
    /// back-off reconnects.
    pub fn send(&mut self, message: &str) -> io::Result<()> {
        if self.retry_at.is_some_and(|t| Instant::now() < t) {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "syslog server unreachable; waiting before retrying",
            ));
        }
        let result = self.try_send(message);
        if result.is_err() {
            match &mut self.conn {
                Conn::Tcp(c) => *c = None,
                Conn::Udp(c) => *c = None,
            }
            self.retry_at = Some(Instant::now() + BACKOFF);
        } else {
            self.retry_at = None;
        }
        result
    }

    fn try_send(&mut self, message: &str) -> io::Result<()> {
        match &mut self.conn {
            Conn::Tcp(conn) => {
                if conn.is_none() {
                    *conn = Some(connect_tcp(&self.address)?);
                }
                let Some(stream) = conn.as_mut() else {
                    return Err(io::ErrorKind::NotConnected.into());
                };
                // RFC 6587 §3.4.1: MSG-LEN SP SYSLOG-MSG.
                let mut frame = format!("{} ", message.len()).into_bytes();
                frame.extend_from_slice(message.as_bytes());
                stream.write_all(&frame)?;
                stream.flush()
            }
            Conn::Udp(sock) => {
                if sock.is_none() {
                    let addr = resolve(&self.address)?;
                    let local = if addr.is_ipv4() {
                        "0.0.0.0:0"
                    } else {
                        "[::]:0"
                    };
                    let s = UdpSocket::bind(local)?;
                    s.connect(addr)?;
                    *sock = Some(s);
                }
                let Some(s) = sock.as_ref() else {
                    return Err(io::ErrorKind::NotConnected.into());
                };
                let sent = s.send(message.as_bytes())?;
                if sent != message.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "datagram truncated",
                    ));
                }
                Ok(())
            }
        }
    }
}

fn resolve(address: &str) -> io::Result<std::net::SocketAddr> {
    address.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            "syslog address resolves to nothing",
        )
    })
}

fn connect_tcp(address: &str) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&resolve(address)?, NET_TIMEOUT)?;
    stream.set_write_timeout(Some(NET_TIMEOUT))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Facility;

    #[test]
    fn header_fields() {
        let cfg = SyslogConfig {
            facility: Facility::Local3,
            hostname: Some("gw-1".into()),
            ..SyslogConfig::default()
        };
        let m = Formatter::new(&cfg).message("2026-11-29T15:45:22.123Z", "alert", "{}");
        let pid = std::process::id();
        assert_eq!(
            m,
            format!("<156>1 2026-11-29T15:45:22.123Z gw-1 privgate {pid} alert - {{}}")
        );
    }
}
