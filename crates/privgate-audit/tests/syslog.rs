//! Lines reach a real syslog listener on 127.0.0.1 over TCP (octet counting) and UDP, as
//! RFC 5424 messages whose MSG is the record line exactly as in the file.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use common::{lines, one_of_each_kind, Trail};
use privgate_audit::{Facility, SyslogConfig, Transport};

struct Message {
    pri: u16,
    version: String,
    timestamp: String,
    hostname: String,
    app_name: String,
    procid: String,
    msgid: String,
    sd: String,
    msg: String,
}

fn parse(message: &str) -> Message {
    let mut parts = message.splitn(8, ' ');
    let mut next = || parts.next().unwrap().to_owned();
    let head = next();
    let (pri, version) = head.strip_prefix('<').unwrap().split_once('>').unwrap();
    Message {
        pri: pri.parse().unwrap(),
        version: version.to_owned(),
        timestamp: next(),
        hostname: next(),
        app_name: next(),
        procid: next(),
        msgid: next(),
        sd: next(),
        msg: next(),
    }
}

fn check(messages: &[String], trail: &Trail, facility: u16) {
    let file = lines(&trail.active());
    assert_eq!(messages.len(), file.len());
    for (message, line) in messages.iter().zip(&file) {
        let m = parse(message);
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let kind = record["kind"].as_str().unwrap();
        let severity = if kind == "alert" || kind == "stream_abort" {
            4
        } else {
            6
        };
        assert_eq!(m.pri, facility * 8 + severity, "{message}");
        assert_eq!(m.version, "1");
        assert_eq!(m.timestamp, record["time"].as_str().unwrap());
        assert_eq!(m.hostname, "gw-test");
        assert_eq!(m.app_name, "privgate");
        assert_eq!(m.procid, std::process::id().to_string());
        assert_eq!(m.msgid, kind);
        assert_eq!(m.sd, "-");
        assert_eq!(m.msg, line.trim_end_matches('\n'));
    }
}

fn syslog(transport: Transport, address: String, facility: Facility) -> SyslogConfig {
    SyslogConfig {
        transport,
        address,
        facility,
        hostname: Some("gw-test".into()),
        ..SyslogConfig::default()
    }
}

#[test]
fn tcp_with_octet_counting() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let mut messages = Vec::new();
        loop {
            // RFC 6587 §3.4.1: MSG-LEN SP SYSLOG-MSG
            let mut len = Vec::new();
            if reader.read_until(b' ', &mut len).unwrap() == 0 {
                return messages;
            }
            let len: usize = std::str::from_utf8(&len)
                .unwrap()
                .trim_end()
                .parse()
                .unwrap();
            let mut msg = vec![0u8; len];
            reader.read_exact(&mut msg).unwrap();
            messages.push(String::from_utf8(msg).unwrap());
        }
    });
    let trail =
        Trail::new().with(|c| c.syslog = Some(syslog(Transport::Tcp, address, Facility::Local0)));
    let auditor = trail.start();
    for event in one_of_each_kind() {
        auditor.record(event).unwrap();
    }
    // Shutting down drains the forwarders and closes the connection.
    auditor.shutdown().unwrap();
    assert_eq!(auditor.forward_failures(), 0);
    let messages = server.join().unwrap();
    check(&messages, &trail, 16);
}

#[test]
fn udp_one_datagram_per_event() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let address = socket.local_addr().unwrap().to_string();
    let trail =
        Trail::new().with(|c| c.syslog = Some(syslog(Transport::Udp, address, Facility::Auth)));
    let auditor = trail.start();
    for event in one_of_each_kind() {
        auditor.record(event).unwrap();
    }
    auditor.shutdown().unwrap();
    assert_eq!(auditor.forward_failures(), 0);
    let mut messages = Vec::new();
    let mut buf = vec![0u8; 65_536];
    for _ in 0..one_of_each_kind().len() {
        let n = socket.recv(&mut buf).unwrap();
        messages.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    check(&messages, &trail, 4);
}

#[test]
fn an_unreachable_server_costs_forwarded_lines_not_the_file() {
    // Bind then drop a listener: nothing listens on that port any more.
    let address = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let trail =
        Trail::new().with(|c| c.syslog = Some(syslog(Transport::Tcp, address, Facility::Local0)));
    let auditor = trail.start();
    for event in one_of_each_kind() {
        auditor.record(event).unwrap();
    }
    auditor.shutdown().unwrap();
    assert!(auditor.healthy());
    assert_eq!(auditor.forward_failures(), 9);
    assert!(trail.verify().is_intact());
    assert_eq!(lines(&trail.active()).len(), 9);
}
