//! DNS SRV lookup (RFC 6120 §3.2, RFC 2782) with XEP-0368 direct TLS records, via
//! hickory-resolver. The ordering is a pure function so that it can be tested.

use std::fmt;
use std::net::SocketAddr;

use hickory_resolver::config::{NameServerConfigGroup, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::TokioResolver;

use super::Error;

/// One place to try: a host, a port, and whether TLS starts at once (XEP-0368) or by
/// STARTTLS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// A host name or IP address.
    pub host: String,
    /// The TCP port.
    pub port: u16,
    /// TLS from the first byte (XEP-0368) rather than STARTTLS.
    pub direct_tls: bool,
}

impl Endpoint {
    /// An endpoint.
    pub fn new(host: impl Into<String>, port: u16, direct_tls: bool) -> Self {
        Self {
            host: host.into(),
            port,
            direct_tls,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)?;
        } else {
            write!(f, "{}:{}", self.host, self.port)?;
        }
        f.write_str(if self.direct_tls {
            " (direct TLS)"
        } else {
            " (STARTTLS)"
        })
    }
}

/// An SRV record, reduced to what the ordering needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SrvRecord {
    pub priority: u16,
    pub weight: u16,
    pub endpoint: Endpoint,
}

/// RFC 2782 order: lowest priority first; within a priority, a weighted random draw (weight
/// 0 records are drawn rarely, but can be). XEP-0368: direct TLS and STARTTLS records are
/// merged into one list. `random` yields numbers to draw with.
pub(crate) fn order(mut records: Vec<SrvRecord>, mut random: impl FnMut() -> u32) -> Vec<Endpoint> {
    records.sort_by_key(|r| r.priority);
    let mut out = Vec::with_capacity(records.len());
    let mut rest = records.as_mut_slice();
    while !rest.is_empty() {
        let priority = rest[0].priority;
        let n = rest.iter().take_while(|r| r.priority == priority).count();
        let (group, tail) = rest.split_at_mut(n);
        // RFC 2782: zero-weight records first, then pick by running sum.
        group.sort_by_key(|r| r.weight != 0);
        let mut remaining: Vec<&SrvRecord> = group.iter().collect();
        while !remaining.is_empty() {
            let total: u32 = remaining.iter().map(|r| u32::from(r.weight)).sum();
            let pick = if total == 0 {
                0
            } else {
                let target = random() % (total + 1);
                let mut sum = 0;
                remaining
                    .iter()
                    .position(|r| {
                        sum += u32::from(r.weight);
                        sum >= target
                    })
                    .unwrap_or(0)
            };
            out.push(remaining.remove(pick).endpoint.clone());
        }
        rest = tail;
    }
    out
}

/// What the records say: `xmpps` (direct TLS) and `xmpp` (STARTTLS) records of `domain`.
fn plan(
    domain: &str,
    xmpps: Vec<SrvRecord>,
    xmpp: Vec<SrvRecord>,
    random: impl FnMut() -> u32,
) -> Result<Vec<Endpoint>, Error> {
    // RFC 2782: a service whose only record has target "." is decidedly not offered. That
    // is judged per service: declining direct TLS says nothing about STARTTLS.
    let declined = |records: &[SrvRecord]| records.len() == 1 && records[0].endpoint.host == ".";
    let no_starttls = declined(&xmpp);
    let records: Vec<SrvRecord> = xmpps
        .into_iter()
        .chain(xmpp)
        .filter(|r| r.endpoint.host != ".")
        .collect();
    if records.is_empty() {
        if no_starttls {
            return Err(Error::NoService(domain.to_owned()));
        }
        // RFC 6120 §3.2.2: no SRV records, the domain itself on the default port.
        return Ok(vec![Endpoint::new(domain, 5222, false)]);
    }
    Ok(order(records, random))
}

/// Looks up `_xmpps-client._tcp` and `_xmpp-client._tcp` of `domain` and returns the
/// endpoints to try, in order.
pub(crate) async fn lookup(
    domain: &str,
    dns_servers: &[SocketAddr],
) -> Result<Vec<Endpoint>, Error> {
    // A literal address needs no DNS (a JID writes IPv6 in brackets).
    let literal = domain.trim_start_matches('[').trim_end_matches(']');
    if literal.parse::<std::net::IpAddr>().is_ok() {
        return Ok(vec![Endpoint::new(literal, 5222, false)]);
    }
    let resolver = resolver(dns_servers).map_err(|message| Error::Dns {
        name: domain.to_owned(),
        message,
    })?;
    let mut found = [Vec::new(), Vec::new()];
    for (i, (service, direct_tls)) in [("_xmpps-client._tcp", true), ("_xmpp-client._tcp", false)]
        .into_iter()
        .enumerate()
    {
        let name = format!("{service}.{domain}.");
        match resolver.srv_lookup(name.as_str()).await {
            Ok(lookup) => found[i].extend(lookup.iter().map(|srv| SrvRecord {
                priority: srv.priority(),
                weight: srv.weight(),
                endpoint: Endpoint::new(
                    target_host(&srv.target().to_utf8()),
                    srv.port(),
                    direct_tls,
                ),
            })),
            Err(e) if e.is_no_records_found() || e.is_nx_domain() => {}
            // Direct TLS records are optional (XEP-0368): a failed lookup counts as none.
            Err(_) if direct_tls => {}
            Err(e) => {
                return Err(Error::Dns {
                    name,
                    message: e.to_string(),
                })
            }
        }
    }
    let [xmpps, xmpp] = found;
    plan(domain, xmpps, xmpp, random_source())
}

/// A record's target without its trailing dot; the root "." (no service) stays ".".
fn target_host(target: &str) -> String {
    match target.trim_end_matches('.') {
        "" => ".".to_owned(),
        host => host.to_owned(),
    }
}

fn resolver(dns_servers: &[SocketAddr]) -> Result<TokioResolver, String> {
    if dns_servers.is_empty() {
        return TokioResolver::builder_tokio()
            .map(|b| b.build())
            .map_err(|e| format!("reading the system DNS configuration: {e}"));
    }
    let mut group = NameServerConfigGroup::new();
    for addr in dns_servers {
        group.merge(NameServerConfigGroup::from_ips_clear(
            &[addr.ip()],
            addr.port(),
            true,
        ));
    }
    let config = ResolverConfig::from_parts(None, vec![], group);
    Ok(TokioResolver::builder_with_config(config, TokioConnectionProvider::default()).build())
}

/// Numbers for the weighted draw: seeded from the standard library's per-process keys.
fn random_source() -> impl FnMut() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let state = std::collections::hash_map::RandomState::new();
    let mut counter = 0u64;
    move || {
        counter += 1;
        let mut h = state.build_hasher();
        h.write_u64(counter);
        h.finish() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(priority: u16, weight: u16, host: &str, direct_tls: bool) -> SrvRecord {
        SrvRecord {
            priority,
            weight,
            endpoint: Endpoint::new(host, 5222, direct_tls),
        }
    }

    fn hosts(endpoints: &[Endpoint]) -> Vec<&str> {
        endpoints.iter().map(|e| e.host.as_str()).collect()
    }

    #[test]
    fn lower_priority_first_across_both_record_sets() {
        let records = vec![
            rec(20, 0, "c", false),
            rec(5, 0, "a", true),
            rec(10, 0, "b", false),
            rec(30, 0, "d", true),
        ];
        let out = order(records, || 0);
        assert_eq!(hosts(&out), ["a", "b", "c", "d"]);
        assert!(out[0].direct_tls && !out[1].direct_tls);
    }

    #[test]
    fn weights_share_out_first_place_in_proportion() {
        // Weights 1 and 3: over every draw value, "heavy" comes first three times as often.
        let records = vec![rec(1, 1, "light", false), rec(1, 3, "heavy", true)];
        let mut first = std::collections::HashMap::new();
        for draw in 0..=4u32 {
            let out = order(records.clone(), || draw);
            assert_eq!(out.len(), 2);
            *first.entry(out[0].host.clone()).or_insert(0) += 1;
        }
        // Running sums 1 and 4 over 0..=4: "light" for 0 and 1, "heavy" for 2, 3 and 4.
        assert_eq!(first["light"], 2);
        assert_eq!(first["heavy"], 3);
    }

    #[test]
    fn zero_weight_records_come_first_in_the_draw_list_and_all_are_kept() {
        let records = vec![
            rec(1, 5, "w5", false),
            rec(1, 0, "w0", false),
            rec(2, 0, "next", false),
        ];
        let out = order(records, || 0);
        assert_eq!(hosts(&out), ["w0", "w5", "next"]);
    }

    #[test]
    fn no_records_fall_back_to_the_domain_and_dot_means_no_service() {
        let out = plan("example.com", vec![], vec![], || 0).unwrap();
        assert_eq!(out, [Endpoint::new("example.com", 5222, false)]);
        let dot = |direct| vec![rec(0, 0, ".", direct)];
        let err = plan("example.com", vec![], dot(false), || 0).unwrap_err();
        assert!(matches!(err, Error::NoService(d) if d == "example.com"));
        let err = plan("example.com", dot(true), dot(false), || 0).unwrap_err();
        assert!(matches!(err, Error::NoService(_)));
        // Declining direct TLS alone leaves STARTTLS: the records, or the fallback.
        let out = plan("example.com", dot(true), vec![], || 0).unwrap();
        assert_eq!(out, [Endpoint::new("example.com", 5222, false)]);
        let starttls = vec![rec(1, 0, "xmpp.example.com", false)];
        let out = plan("example.com", dot(true), starttls, || 0).unwrap();
        assert_eq!(hosts(&out), ["xmpp.example.com"]);
    }

    #[test]
    fn endpoints_display_with_their_tls_mode() {
        assert_eq!(Endpoint::new("h", 1, true).to_string(), "h:1 (direct TLS)");
        assert_eq!(
            Endpoint::new("::1", 2, false).to_string(),
            "[::1]:2 (STARTTLS)"
        );
    }
}
