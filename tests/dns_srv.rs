//! DNS SRV end to end: a small DNS server on 127.0.0.1 answers the adapters' SRV queries
//! (through hickory-resolver, as in production), and the adapters connect where the records
//! say, over direct TLS or STARTTLS, to the scripted server.
#![cfg(all(feature = "tokio", feature = "blocking"))]

mod harness;
mod loopback;

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};

use harness::config;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::SRV;
use hickory_proto::rr::{Name, RData, Record};
use loopback::{identity, FakeServer, Reaction};
use xmpp_sansio::net::blocking::Connection;
use xmpp_sansio::net::{tokio as xtokio, ConnectOptions, Error, Trust};

/// SRV records by query name: `(priority, weight, port, target)`.
type Zone = HashMap<String, Vec<(u16, u16, u16, &'static str)>>;

/// Answers SRV queries from `zone`; any other name is NXDOMAIN.
fn dns_server(zone: Zone) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, peer)) = socket.recv_from(&mut buf) {
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut reply = Message::new();
            reply
                .set_id(query.id())
                .set_message_type(MessageType::Response);
            reply
                .set_recursion_desired(query.recursion_desired())
                .set_recursion_available(true);
            let mut found = false;
            for q in query.queries() {
                reply.add_query(q.clone());
                for &(priority, weight, port, target) in
                    zone.get(&q.name().to_ascii()).into_iter().flatten()
                {
                    let srv = SRV::new(priority, weight, port, Name::from_ascii(target).unwrap());
                    reply.add_answer(Record::from_rdata(q.name().clone(), 60, RData::SRV(srv)));
                    found = true;
                }
            }
            if !found {
                reply.set_response_code(ResponseCode::NXDomain);
            }
            let _ = socket.send_to(&reply.to_vec().unwrap(), peer);
        }
    });
    addr
}

fn options(dns: SocketAddr) -> ConnectOptions {
    let mut options =
        ConnectOptions::new().trust(Trust::Certificates(vec![identity().cert.clone()]));
    options.dns_servers = vec![dns];
    options
}

/// Connects with one adapter or the other and closes.
fn connect(tokio: bool, options: &ConnectOptions) -> Result<(), Error> {
    if !tokio {
        return Connection::connect(config(), options).map(|c| c.close().unwrap());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (handle, _events) = xtokio::connect(config(), options).await?;
        Ok(handle.close().await?)
    })
}

const XMPPS: &str = "_xmpps-client._tcp.example.com.";
const XMPP: &str = "_xmpp-client._tcp.example.com.";

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

#[test]
fn the_lower_priority_record_wins_whatever_its_kind() {
    for tokio in [false, true] {
        for direct_first in [true, false] {
            let direct = FakeServer::start(Default::default(), true, |_, _| Reaction::Continue);
            let starttls = FakeServer::plain();
            let (p_direct, p_starttls) = if direct_first { (5, 10) } else { (10, 5) };
            let dns = dns_server(Zone::from([
                (
                    XMPPS.to_owned(),
                    vec![(p_direct, 0, direct.port(), "localhost.")],
                ),
                (
                    XMPP.to_owned(),
                    vec![(p_starttls, 0, starttls.port(), "localhost.")],
                ),
            ]));
            connect(tokio, &options(dns)).unwrap();
            // The winner served the session; the other saw no connection (its thread is
            // left waiting).
            let log = if direct_first {
                direct.finish()
            } else {
                starttls.finish()
            };
            assert!(log.client_closed);
            assert_eq!(log.alpn.is_some(), direct_first);
        }
    }
}

#[test]
fn an_endpoint_that_refuses_is_skipped_for_the_next() {
    for tokio in [false, true] {
        let starttls = FakeServer::plain();
        let dns = dns_server(Zone::from([
            (XMPPS.to_owned(), vec![(1, 0, closed_port(), "localhost.")]),
            (XMPP.to_owned(), vec![(2, 0, starttls.port(), "localhost.")]),
        ]));
        connect(tokio, &options(dns)).unwrap();
        assert!(starttls.finish().client_closed);
    }
}

#[test]
fn a_dot_target_means_no_service() {
    for tokio in [false, true] {
        let dns = dns_server(Zone::from([(XMPP.to_owned(), vec![(0, 0, 0, ".")])]));
        let result = connect(tokio, &options(dns));
        assert!(
            matches!(&result, Err(Error::NoService(d)) if d == "example.com"),
            "{result:?}"
        );
    }
}

#[test]
fn without_records_the_domain_itself_is_tried_on_5222() {
    for tokio in [false, true] {
        let dns = dns_server(Zone::new());
        let opts = options(dns).connect_timeout(std::time::Duration::from_secs(2));
        let result = connect(tokio, &opts);
        // example.com does not resolve in this sandbox (or refuses on 5222): either way the
        // error names the fallback endpoint.
        assert!(
            matches!(&result, Err(Error::Connect { endpoint, .. }) if endpoint == "example.com:5222 (STARTTLS)"),
            "{result:?}"
        );
    }
}
