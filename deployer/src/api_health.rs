//! Whether the API server still answers, known within seconds rather than at the end of a
//! readiness timeout.
//!
//! [`ApiHealth::watch`] starts one background probe: `GET /livez` every
//! [`Probe::interval`], each allowed [`Probe::timeout`] to answer. `/livez` is the API
//! server's liveness endpoint (Kubernetes docs, "Kubernetes API health endpoints"); it is
//! readable by every authenticated user (the `system:public-info-viewer` role) and costs the
//! server nothing, so the probe adds one cheap request per interval to a run. After
//! [`Probe::failures`] probes in a row fail (refused, reset, not answered in time, or answered
//! with an error status) the server is [`Health::Lost`]; the first probe that succeeds again
//! makes it [`Health::Answering`]. Watches cannot tell this apart on their own: a watcher with
//! backoff keeps retrying quietly, and a wait on it only ends at its timeout.
//!
//! Dropping the [`ApiHealth`] stops the probe.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kube::Client;
use tokio::sync::watch;

/// How the API server is probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Time between the end of one probe and the start of the next.
    pub interval: Duration,
    /// How long one probe may wait for its answer.
    pub timeout: Duration,
    /// Failed probes in a row that make the server lost.
    pub failures: u32,
}

impl Default for Probe {
    /// One probe a second, 5 s each, lost after 3 failures in a row: a refused connection is
    /// noticed in about 3 s, a server that accepts and never answers in about 18 s.
    fn default() -> Self {
        Probe {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            failures: 3,
        }
    }
}

/// What the probe knows.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// The last probe was answered (or too few have failed yet to say otherwise).
    Answering,
    /// [`Probe::failures`] probes in a row failed.
    Lost(Outage),
}

/// An outage as the probe saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    /// When the first of the failed probes in a row started.
    pub since: Instant,
    /// When the probe declared the server lost.
    pub noticed: Instant,
    /// The last failure: the connection error, `no answer within N s`, or the error status.
    pub reason: String,
    /// When the first probe after it succeeded; `None` while it lasts.
    pub returned: Option<Instant>,
}

/// A running probe of one API server.
pub struct ApiHealth {
    state: watch::Receiver<Health>,
    first: Arc<Mutex<Option<Outage>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ApiHealth {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ApiHealth {
    /// Starts probing the server `client` talks to (a tokio task, ended on drop).
    pub fn watch(client: Client, probe: Probe) -> ApiHealth {
        let (sender, state) = watch::channel(Health::Answering);
        let first = Arc::new(Mutex::new(None::<Outage>));
        let first_seen = first.clone();
        let task = tokio::spawn(async move {
            let mut failed: Option<(Instant, u32)> = None;
            loop {
                let started = Instant::now();
                match probe_once(&client, probe.timeout).await {
                    Ok(()) => {
                        failed = None;
                        sender.send_if_modified(|health| {
                            let was_lost = matches!(health, Health::Lost(_));
                            *health = Health::Answering;
                            was_lost
                        });
                        let mut first = first_seen.lock().expect("not poisoned");
                        if let Some(outage) = first.as_mut().filter(|o| o.returned.is_none()) {
                            outage.returned = Some(Instant::now());
                        }
                    }
                    Err(reason) => {
                        let (since, count) = failed.unwrap_or((started, 0));
                        failed = Some((since, count + 1));
                        if count + 1 >= probe.failures {
                            let outage = Outage {
                                since,
                                noticed: Instant::now(),
                                reason,
                                returned: None,
                            };
                            let declared = sender.send_if_modified(|health| {
                                let was_answering = matches!(health, Health::Answering);
                                if was_answering {
                                    *health = Health::Lost(outage.clone());
                                }
                                was_answering
                            });
                            let mut first = first_seen.lock().expect("not poisoned");
                            if declared && first.is_none() {
                                *first = Some(outage);
                            }
                        }
                    }
                }
                tokio::time::sleep(probe.interval).await;
            }
        });
        ApiHealth { state, first, task }
    }

    /// The first outage the probe declared, with when it ended if it did; `None` when the
    /// server has answered throughout.
    pub fn first_outage(&self) -> Option<Outage> {
        self.first.lock().expect("not poisoned").clone()
    }

    /// Stops probing (before a provider takes its cluster down on purpose): from then on
    /// nothing changes, [`ApiHealth::lost`] never resolves, and [`ApiHealth::first_outage`]
    /// keeps what was seen before.
    pub fn stop(&self) {
        self.task.abort();
    }

    /// What the probe knows now.
    pub fn current(&self) -> Health {
        self.state.borrow().clone()
    }

    /// Resolves when the server is lost (at once when it already is), with the outage.
    pub async fn lost(&self) -> Outage {
        let mut state = self.state.clone();
        loop {
            if let Health::Lost(outage) = &*state.borrow_and_update() {
                return outage.clone();
            }
            if state.changed().await.is_err() {
                // The probe ended (it never does while `self` lives): nothing more to learn.
                return std::future::pending().await;
            }
        }
    }

    /// Waits up to `within` for the server to answer again; true when it did.
    pub async fn returned(&self, within: Duration) -> bool {
        let mut state = self.state.clone();
        let answering = async {
            loop {
                if matches!(&*state.borrow_and_update(), Health::Answering) {
                    return;
                }
                if state.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        };
        tokio::time::timeout(within, answering).await.is_ok()
    }
}

/// One `GET /livez`: Ok when answered with a success status within `timeout`.
async fn probe_once(client: &Client, timeout: Duration) -> Result<(), String> {
    let request = http::Request::get("/livez")
        .body(Vec::new())
        .expect("a valid request");
    match tokio::time::timeout(timeout, client.request_text(request)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(error)) => Err(error.to_string()),
        Err(_) => Err(format!("no answer within {} s", timeout.as_secs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client for a loopback port nothing listens on (bound, then closed).
    fn client_of_nothing() -> Client {
        let [port] = host::ports::free_ports::<1>().unwrap();
        let config = kube::Config::new(format!("https://127.0.0.1:{port}").parse().unwrap());
        Client::try_from(config).unwrap()
    }

    #[tokio::test]
    async fn a_server_that_refuses_is_lost_after_the_failures_in_a_row() {
        let probe = Probe {
            interval: Duration::from_millis(50),
            timeout: Duration::from_secs(1),
            failures: 3,
        };
        let health = ApiHealth::watch(client_of_nothing(), probe);
        let outage = tokio::time::timeout(Duration::from_secs(10), health.lost())
            .await
            .expect("a refused connection is noticed");
        assert!(outage.noticed >= outage.since);
        assert!(!outage.reason.is_empty());
        assert!(matches!(health.current(), Health::Lost(_)));
        assert_eq!(health.first_outage().map(|o| o.reason), Some(outage.reason));
        assert!(!health.returned(Duration::from_millis(200)).await);
    }

    #[tokio::test]
    async fn a_stopped_probe_declares_nothing_more() {
        let probe = Probe {
            interval: Duration::from_millis(50),
            timeout: Duration::from_secs(1),
            failures: 3,
        };
        let health = ApiHealth::watch(client_of_nothing(), probe);
        health.stop();
        // Three refused probes would take ~150 ms; a stopped probe never gets there.
        let lost = tokio::time::timeout(Duration::from_millis(600), health.lost()).await;
        assert!(lost.is_err(), "a stopped probe declared an outage");
        assert!(health.first_outage().is_none());
    }

    #[tokio::test]
    async fn a_server_is_answering_until_enough_probes_failed() {
        let probe = Probe {
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(1),
            failures: 2,
        };
        let health = ApiHealth::watch(client_of_nothing(), probe);
        // One failed probe (the next is a minute away) is not an outage.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(health.current(), Health::Answering);
        assert!(health.returned(Duration::from_millis(10)).await);
        assert!(health.first_outage().is_none());
    }
}
