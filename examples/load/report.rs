//! What the run shows: the progress line on stderr, the resources read from /proc (memory
//! and CPU of the client, the server and the whole machine) with each phase's share, and the
//! summary for people.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{count, Phase, Shared};

/// Linux's `USER_HZ`: the unit of the CPU times in /proc, 100 on every architecture's ABI.
const TICKS_PER_SEC: f64 = 100.0;

/// A line on stderr once a second: the phase, its counts, the failures so far, and the CPU
/// the client and the server used in that second (100% = one core).
pub async fn progress(shared: Arc<Shared>, server_pid: Option<u32>) {
    let began = Instant::now();
    let mut last = Sample::take(server_pid);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // A starved runtime skips lines rather than printing them in a burst.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let now = Sample::take(server_pid);
        let secs = now.at.duration_since(last.at).as_secs_f64();
        let pct = |now: Option<f64>, last: Option<f64>| {
            now.zip(last).map_or("?".to_owned(), |(n, l)| {
                format!("{:.0}%", 100.0 * (n - l) / secs)
            })
        };
        let client_cpu = pct(Some(now.client_cpu), Some(last.client_cpu));
        let server_cpu = pct(now.server_cpu, last.server_cpu);
        let c = &shared.counts;
        let target = count(&shared.target);
        let phase = shared.phase();
        let what = match phase {
            Phase::Register => format!(
                "{}/{target} registered",
                count(&c.registered) + count(&c.already_registered)
            ),
            Phase::Login => format!(
                "{}/{target} online, {} ready",
                count(&c.online),
                count(&c.ready)
            ),
            Phase::Subscribe => format!(
                "{}/{target} subscribed, {} presences, {} capabilities",
                count(&c.subscribed),
                count(&c.presences),
                count(&c.capabilities)
            ),
            Phase::Messages => format!(
                "{}/{target} sent, {} received",
                count(&c.sent),
                count(&c.received)
            ),
            Phase::Idle => format!("{target} online, idle"),
            Phase::Close => format!("{}/{target} closed", count(&c.closed)),
            Phase::Done => return,
        };
        let failures: usize = shared.failures().values().sum();
        eprintln!(
            "load [{:5.1}s] {}: {what}; {failures} failures; cpu: client {client_cpu}, server {server_cpu}",
            began.elapsed().as_secs_f64(),
            phase.name(),
        );
        last = now;
    }
}

/// The resources used so far, at one instant: this process's, the server's (when its PID is
/// known), the whole machine's.
#[derive(Clone)]
pub struct Sample {
    pub at: Instant,
    pub client_cpu: f64,
    pub client_rss: Option<u64>,
    pub server_cpu: Option<f64>,
    pub server_rss: Option<u64>,
    /// Jiffies (busy, total) of all CPUs, from /proc/stat.
    machine: Option<(u64, u64)>,
}

impl Sample {
    pub fn take(server_pid: Option<u32>) -> Sample {
        let server = server_pid.map(|pid| pid.to_string());
        Sample {
            at: Instant::now(),
            client_cpu: cpu_secs("self").unwrap_or_default(),
            client_rss: rss_kib("self"),
            server_cpu: server.as_deref().and_then(cpu_secs),
            server_rss: server.as_deref().and_then(rss_kib),
            machine: machine_jiffies(),
        }
    }

    /// What a phase took: wall time, CPU of the client, of the server, of everything else,
    /// and how busy the machine's cores were (100% = all of them).
    pub fn since(&self, start: &Sample, phase: Phase) -> Value {
        let secs = self.at.duration_since(start.at).as_secs_f64();
        let client = self.client_cpu - start.client_cpu;
        let server = self.server_cpu.zip(start.server_cpu).map(|(e, b)| e - b);
        let machine = self.machine.zip(start.machine);
        let busy = machine.and_then(|((b, t), (b0, t0))| {
            (t > t0).then(|| 100.0 * (b - b0) as f64 / (t - t0) as f64)
        });
        // The rest of the machine meanwhile: other processes, and the kernel's work charged
        // to no process (softirqs, such as loopback's). A busy machine slows both sides.
        let others = machine.map(|((b, _), (b0, _))| {
            ((b - b0) as f64 / TICKS_PER_SEC - client - server.unwrap_or(0.0)).max(0.0)
        });
        json!({
            "phase": phase.name(),
            "secs": secs,
            "client_cpu_secs": client,
            "server_cpu_secs": server,
            "others_cpu_secs": others,
            "machine_busy_pct": busy,
        })
    }
}

/// `VmRSS` of a process (`self` or a PID) in KiB.
fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User and system CPU time of a process (all its threads) in seconds.
fn cpu_secs(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ...`: comm may hold spaces; utime and stime are fields 14 and 15,
    // the 12th and 13th after comm.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SEC)
}

/// (busy, total) jiffies of all CPUs; idle and iowait are not busy.
fn machine_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let times: Vec<u64> = line
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = times.iter().take(8).sum();
    let idle = times.get(3)? + times.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// The summary for people, on stdout.
pub fn print_summary(s: &Value) {
    let num = |v: &Value| v.as_f64().map_or("-".to_owned(), |f| format!("{f:.1}"));
    println!(
        "{} sessions against {} ({} contacts each, {} messages each, {} logins in flight at most)",
        s["sessions"],
        s["server"].as_str().unwrap_or("?"),
        s["contacts"],
        s["messages_per_session"],
        s["concurrency"]
    );
    println!(
        "registered {} (already there {}), logged in {} (ready {}), closed cleanly {}",
        s["registered"], s["already_registered"], s["logged_in"], s["ready"], s["closed_cleanly"]
    );
    let sub = &s["subscriptions"];
    println!(
        "subscriptions {}/{} (presences {}, capabilities {})",
        sub["established"], sub["expected"], sub["presences"], sub["capabilities"]
    );
    let m = &s["messages"];
    println!(
        "messages: sent {}/{}, received {}, lost {}, duplicates {}",
        m["sent"], m["expected"], m["received"], m["lost"], m["duplicates"]
    );
    let r = &s["rates"];
    println!(
        "rates: {} registrations/s, {} logins/s, {} subscriptions/s, {} messages sent/s, {} \
         received/s",
        num(&r["registrations_per_sec"]),
        num(&r["logins_per_sec"]),
        num(&r["subscriptions_per_sec"]),
        num(&r["messages_sent_per_sec"]),
        num(&r["messages_received_per_sec"])
    );
    println!("phase        secs  client cpu s  server cpu s  others cpu s  machine busy");
    for p in s["phases"].as_array().into_iter().flatten() {
        println!(
            "{:<10} {:>6}  {:>12}  {:>12}  {:>12}  {:>11}%",
            p["phase"].as_str().unwrap_or("?"),
            format!("{:.2}", p["secs"].as_f64().unwrap_or(0.0)),
            num(&p["client_cpu_secs"]),
            num(&p["server_cpu_secs"]),
            num(&p["others_cpu_secs"]),
            num(&p["machine_busy_pct"])
        );
    }
    for (who, v) in [("client", &s["client"]), ("server", &s["server_process"])] {
        if v.is_null() {
            continue;
        }
        println!(
            "{who}: RSS {} KiB before the sessions, {} KiB online, {} KiB idle after the \
             messages: {} KiB per session; CPU {} s ({}% of wall time)",
            v["rss_before_kib"],
            v["rss_online_kib"],
            v["rss_idle_kib"],
            num(&v["rss_per_session_kib"]),
            num(&v["cpu"]["secs"]),
            num(&v["cpu"]["pct_of_wall"])
        );
    }
    println!("wall time {} s", num(&s["wall_secs"]));
    match s["failures"].as_object() {
        Some(failures) if !failures.is_empty() => {
            println!("failures ({}):", s["failures_total"]);
            for (reason, n) in failures {
                println!("  {n:>6}  {reason}");
            }
        }
        _ => println!("no failures"),
    }
}
