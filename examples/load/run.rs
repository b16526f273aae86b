//! The run, phase after phase: registration, login, subscriptions, messages, idle, close;
//! each phase timed on its own, and the summary as one JSON value at the end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, AtomicUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use xmpp_sansio::client::presence::SubscriptionPolicy;
use xmpp_sansio::client::register::RegistrationError;
use xmpp_sansio::client::stanza::MessageType;
use xmpp_sansio::client::Config;
use xmpp_sansio::jid::Jid;
use xmpp_sansio::net::tokio::{connect, register, Handle};
use xmpp_sansio::net::{ConnectOptions, Error};

use crate::options::Options;
use crate::report::{progress, Sample};
use crate::servers::Kind;
use crate::session::read_events;
use crate::{add, count, Counts, Phase, Shared};

/// How often a phase that waits for counts looks at them.
const POLL: Duration = Duration::from_millis(5);
/// How long the sessions may take to end once closed (the client's close timeout is 5 s).
const CLOSE_WAIT: Duration = Duration::from_secs(15);

/// A session online: its commands, and the task reading its events.
struct Session {
    index: usize,
    handle: Handle,
    events: JoinHandle<()>,
}

/// The run, phase after phase.
pub struct Run<'a> {
    options: &'a Options,
    shared: Arc<Shared>,
    connect: Arc<ConnectOptions>,
    /// Registrations and logins in flight.
    in_flight: Arc<Semaphore>,
    server_pid: Option<u32>,
    /// Each phase's times, in order.
    phases: Vec<Value>,
    /// When the current phase began.
    last: Sample,
}

impl<'a> Run<'a> {
    pub fn new(options: &'a Options, connect: ConnectOptions, server_pid: Option<u32>) -> Run<'a> {
        let shared = Shared {
            sessions: options.sessions,
            contacts: options.contacts,
            prefix: options.prefix.clone(),
            domain: options.domain.clone(),
            phase: AtomicU8::new(0),
            target: AtomicUsize::new(0),
            counts: Counts::default(),
            failures: Mutex::new(BTreeMap::new()),
        };
        Run {
            options,
            shared: Arc::new(shared),
            connect: Arc::new(connect),
            in_flight: Arc::new(Semaphore::new(options.concurrency)),
            server_pid,
            phases: Vec::new(),
            last: Sample::take(server_pid),
        }
    }

    fn config(&self, index: usize) -> Config {
        let mut config = Config::new(self.shared.jid(index), self.options.password.as_str());
        config.resource = Some("load".to_owned());
        // The contact's side of a subscription: approved by its client at once.
        config.presence.subscriptions = SubscriptionPolicy::AcceptAll;
        config
    }

    /// Ends a phase: records its times, and starts the next one's clock.
    fn finish(&mut self, phase: Phase) -> Sample {
        let now = Sample::take(self.server_pid);
        self.phases.push(now.since(&self.last, phase));
        self.last = now.clone();
        now
    }

    /// Waits until `state` says done; gives up (false) once the count it reports has not
    /// moved for `--timeout`, so that a large run takes as long as it keeps going.
    async fn wait_until(&self, state: impl Fn(&Counts) -> (usize, bool)) -> bool {
        let mut last = None;
        let mut deadline = Instant::now();
        loop {
            let (progress, done) = state(&self.shared.counts);
            if done {
                return true;
            }
            if last != Some(progress) {
                last = Some(progress);
                deadline = Instant::now() + self.options.timeout;
            } else if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Every phase; returns the summary.
    pub async fn all(mut self) -> Value {
        let progress = tokio::spawn(progress(self.shared.clone(), self.server_pid));
        let began = self.last.clone();
        self.register().await;
        let before = self.finish(Phase::Register);
        let sessions = self.login().await;
        let online = self.finish(Phase::Login);
        let subscriptions = self.subscribe(&sessions).await;
        let subscribed = self.finish(Phase::Subscribe);
        let (expected, send_secs) = self.messages(&sessions).await;
        let messages = self.finish(Phase::Messages);
        self.shared.enter(Phase::Idle, sessions.len());
        tokio::time::sleep(self.options.idle).await;
        let idle = self.finish(Phase::Idle);
        self.close(sessions).await;
        let end = self.finish(Phase::Close);
        self.shared.enter(Phase::Done, 0);
        progress.abort();

        let secs = |from: &Sample, to: &Sample| to.at.duration_since(from.at).as_secs_f64();
        let wall = secs(&began, &end);
        let c = &self.shared.counts;
        let (sent, received) = (count(&c.sent), count(&c.received));
        let logged_in = count(&c.online);
        // Memory is measured with everyone online and idle, against before the first login.
        let per_session = |idle: Option<u64>, before: Option<u64>| {
            Some(idle?.saturating_sub(before?) as f64 / logged_in.max(1) as f64)
        };
        let cpu = |end: Option<f64>, began: Option<f64>| {
            let secs = end? - began?;
            Some(json!({"secs": secs, "pct_of_wall": 100.0 * secs / wall}))
        };
        let server = self.server_pid.map(|pid| {
            json!({
                "pid": pid,
                "rss_before_kib": before.server_rss,
                "rss_online_kib": online.server_rss,
                "rss_idle_kib": idle.server_rss,
                "rss_per_session_kib": per_session(idle.server_rss, before.server_rss),
                "cpu": cpu(end.server_cpu, began.server_cpu),
            })
        });
        let failures = self.shared.failures();
        json!({
            "server": self.options.server.map_or("external", Kind::name),
            "sessions": self.options.sessions,
            "contacts": self.options.contacts,
            "messages_per_session": self.options.messages,
            "concurrency": self.options.concurrency,
            "registered": count(&c.registered),
            "already_registered": count(&c.already_registered),
            "logged_in": logged_in,
            "ready": count(&c.ready),
            "closed_cleanly": count(&c.closed),
            "subscriptions": {
                "expected": subscriptions,
                "established": count(&c.subscribed),
                "presences": count(&c.presences),
                "capabilities": count(&c.capabilities),
            },
            "messages": {
                "expected": expected,
                "sent": sent,
                "received": received,
                "lost": sent.saturating_sub(received),
                "duplicates": count(&c.duplicates),
            },
            "rates": {
                "registrations_per_sec": rate(count(&c.registered), secs(&began, &before)),
                "logins_per_sec": rate(count(&c.ready), secs(&before, &online)),
                "subscriptions_per_sec": rate(count(&c.settled), secs(&online, &subscribed)),
                "messages_sent_per_sec": rate(sent, send_secs),
                "messages_received_per_sec": rate(received, secs(&subscribed, &messages)),
            },
            "phases": self.phases,
            "failures": failures,
            "failures_total": failures.values().sum::<usize>(),
            "client": {
                "rss_before_kib": before.client_rss,
                "rss_online_kib": online.client_rss,
                "rss_idle_kib": idle.client_rss,
                "rss_per_session_kib": per_session(idle.client_rss, before.client_rss),
                "cpu": cpu(Some(end.client_cpu), Some(began.client_cpu)),
            },
            "server_process": server,
            "wall_secs": wall,
        })
    }

    /// Every account, in-band, `--concurrency` at once.
    async fn register(&mut self) {
        let n = self.options.sessions;
        self.shared.enter(Phase::Register, n);
        let tasks = (0..n).map(|index| {
            let (shared, options) = (self.shared.clone(), self.connect.clone());
            let (in_flight, config) = (self.in_flight.clone(), self.config(index));
            tokio::spawn(async move {
                let Ok(_permit) = in_flight.acquire_owned().await else {
                    return;
                };
                match register(config, &options, |_| {}).await {
                    Ok(_) => add(&shared.counts.registered),
                    // A server used before, with the same prefix: the account is there.
                    Err(Error::Registration(RegistrationError::Conflict(_))) => {
                        add(&shared.counts.already_registered)
                    }
                    Err(e) => shared.fail(format!("register: {e}")),
                }
            })
        });
        let tasks: Vec<_> = tasks.collect();
        join_all(&self.shared, tasks).await;
    }

    /// Every session online and ready, `--concurrency` negotiating at once. Each session's
    /// events go to a task of its own from then on.
    async fn login(&mut self) -> Vec<Session> {
        let n = self.options.sessions;
        self.shared.enter(Phase::Login, n);
        let tasks: Vec<_> = (0..n)
            .map(|index| {
                let (shared, options) = (self.shared.clone(), self.connect.clone());
                let (in_flight, config) = (self.in_flight.clone(), self.config(index));
                tokio::spawn(async move {
                    let _permit = in_flight.acquire_owned().await.ok()?;
                    match connect(config, &options).await {
                        Ok((handle, events)) => {
                            add(&shared.counts.online);
                            let events = tokio::spawn(read_events(index, events, shared));
                            Some(Session {
                                index,
                                handle,
                                events,
                            })
                        }
                        Err(e) => {
                            shared.fail(format!("login: {e}"));
                            None
                        }
                    }
                })
            })
            .collect();
        let mut sessions = Vec::with_capacity(n);
        for task in tasks {
            match task.await {
                Ok(session) => sessions.extend(session),
                Err(e) => self.shared.fail(format!("login: task failed: {e}")),
            }
        }
        let online = sessions.len();
        if !self
            .wait_until(|c| (count(&c.ready), count(&c.ready) >= online))
            .await
        {
            let missing = online.saturating_sub(count(&self.shared.counts.ready));
            self.shared.fail_n(
                "login: no roster or server description (no progress for --timeout)",
                missing,
            );
        }
        sessions
    }

    /// The contacts of a session that are online.
    fn contacts_online(&self, index: usize, online: &[bool]) -> Vec<Jid> {
        let shared = &self.shared;
        let contacts = shared.contacts_of(index).filter(|j| online[*j]);
        contacts.map(|j| shared.jid(j)).collect()
    }

    /// Each session asks for its contacts' presence, which approve by policy. A pair is
    /// done when the roster says `to`, the contact's presence came and its capabilities are
    /// known: then the server is done with it. Sessions start subscribing while fewer than
    /// `--concurrency` sessions' worth of pairs are under way: all at once, a slow server's
    /// backlog outgrows the client's acknowledgement timeout and sessions drop. Returns the
    /// subscriptions expected.
    async fn subscribe(&mut self, sessions: &[Session]) -> usize {
        let online = self.online(sessions);
        let subscriptions: Vec<(Handle, Vec<Jid>)> = sessions
            .iter()
            .map(|s| (s.handle.clone(), self.contacts_online(s.index, &online)))
            .collect();
        let wanted = subscriptions.iter().map(|(_, c)| c.len()).sum();
        let window = self.options.concurrency * self.options.contacts;
        self.shared.enter(Phase::Subscribe, wanted);
        let steps =
            |c: &Counts| count(&c.subscribed) + count(&c.presences) + count(&c.capabilities);
        let mut asked = 0;
        let mut stalled = false;
        for (handle, contacts) in subscriptions {
            stalled = !self
                .wait_until(|c| (steps(c), asked < count(&c.settled) + window))
                .await;
            if stalled {
                break;
            }
            asked += contacts.len();
            let shared = self.shared.clone();
            tokio::spawn(async move {
                for contact in contacts {
                    if let Err(e) = handle.subscribe(&contact).await {
                        shared.fail(format!("subscribe: {e}"));
                    }
                }
            });
        }
        if stalled
            || !self
                .wait_until(|c| (steps(c), count(&c.settled) >= wanted))
                .await
        {
            let c = &self.shared.counts;
            for (counter, what) in [
                (&c.subscribed, "not approved"),
                (&c.presences, "no presence from the contact"),
                (&c.capabilities, "the contact's capabilities not resolved"),
            ] {
                let missing = wanted.saturating_sub(count(counter));
                if missing > 0 {
                    let reason = format!("subscribe: {what} (no progress for --timeout)");
                    self.shared.fail_n(reason, missing);
                }
            }
        }
        wanted
    }

    fn online(&self, sessions: &[Session]) -> Vec<bool> {
        let mut online = vec![false; self.options.sessions];
        for session in sessions {
            online[session.index] = true;
        }
        online
    }

    /// M messages per session, round-robin over its contacts online, each body unique
    /// (`load SENDER SEQ`) so that the receiver tells losses from duplicates. Done once all
    /// are sent and as many received, or at the deadline. Returns the messages expected and
    /// how long sending them took.
    async fn messages(&mut self, sessions: &[Session]) -> (usize, f64) {
        let online = self.online(sessions);
        let senders: Vec<(usize, Handle, Vec<Jid>)> = sessions
            .iter()
            .map(|s| {
                (
                    s.index,
                    s.handle.clone(),
                    self.contacts_online(s.index, &online),
                )
            })
            .filter(|(_, _, contacts)| !contacts.is_empty())
            .collect();
        let (per_session, expected) =
            (self.options.messages, senders.len() * self.options.messages);
        self.shared.enter(Phase::Messages, expected);
        let sending = Instant::now();
        let tasks: Vec<_> = senders
            .into_iter()
            .map(|(from, handle, contacts)| {
                let shared = self.shared.clone();
                tokio::spawn(async move {
                    for seq in 0..per_session {
                        let to = &contacts[seq % contacts.len()];
                        let body = format!("load {from} {seq}");
                        match handle.send_message(to, MessageType::Chat, &body).await {
                            Ok(_) => add(&shared.counts.sent),
                            Err(e) => shared.fail(format!("send: {e}")),
                        }
                    }
                })
            })
            .collect();
        join_all(&self.shared, tasks).await;
        let send_secs = sending.elapsed().as_secs_f64();
        let sent = count(&self.shared.counts.sent);
        // What was sent and not received counts as lost in the summary.
        self.wait_until(|c| {
            let received = count(&c.received);
            (received + count(&c.duplicates), received >= sent)
        })
        .await;
        (expected, send_secs)
    }

    /// Closes every session at once; each session's task sees it end.
    async fn close(&mut self, sessions: Vec<Session>) {
        self.shared.enter(Phase::Close, sessions.len());
        let mut readers = Vec::with_capacity(sessions.len());
        let mut closing = Vec::with_capacity(sessions.len());
        for Session { handle, events, .. } in sessions {
            readers.push(events);
            let shared = self.shared.clone();
            closing.push(tokio::spawn(async move {
                if let Err(e) = handle.close().await {
                    shared.fail(format!("close: {e}"));
                }
            }));
        }
        join_all(&self.shared, closing).await;
        let open = readers.len();
        if tokio::time::timeout(CLOSE_WAIT, join_all(&self.shared, readers))
            .await
            .is_err()
        {
            let missing = open.saturating_sub(count(&self.shared.counts.closed));
            self.shared
                .fail_n("close: the session did not end", missing);
        }
    }
}

/// Per second, or null for an empty phase.
fn rate(n: usize, secs: f64) -> Option<f64> {
    (secs > 0.0 && n > 0).then(|| n as f64 / secs)
}

/// Waits for every task; a task that panicked is a failure, not the end of the run.
async fn join_all(shared: &Shared, tasks: Vec<JoinHandle<()>>) {
    for task in tasks {
        if let Err(e) = task.await {
            shared.fail(format!("{}: task failed: {e}", shared.phase().name()));
        }
    }
}
