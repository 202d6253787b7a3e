//! The signals that stop a run — SIGINT (Ctrl-C), SIGTERM (what `timeout`, `kill` and CI
//! cancellation send) and SIGHUP (a closed terminal) — watched once for the whole of a run, so
//! that none of them is missed between two phases and a second one can be told from the first.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;

/// A signal that asks the process to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StopSignal {
    /// SIGINT (2): Ctrl-C.
    #[serde(rename = "SIGINT")]
    Interrupt,
    /// SIGTERM (15): `kill`, `timeout`, a CI job's cancellation.
    #[serde(rename = "SIGTERM")]
    Terminate,
    /// SIGHUP (1): the terminal went away.
    #[serde(rename = "SIGHUP")]
    Hangup,
}

impl StopSignal {
    /// Every stop signal, in the order they are registered.
    pub const ALL: [StopSignal; 3] = [
        StopSignal::Interrupt,
        StopSignal::Terminate,
        StopSignal::Hangup,
    ];

    /// `SIGINT`, `SIGTERM` or `SIGHUP`.
    pub fn name(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "SIGINT",
            StopSignal::Terminate => "SIGTERM",
            StopSignal::Hangup => "SIGHUP",
        }
    }

    /// The signal's number on Linux (signal(7)): 2, 15 or 1.
    pub fn number(self) -> u8 {
        match self {
            StopSignal::Interrupt => 2,
            StopSignal::Terminate => 15,
            StopSignal::Hangup => 1,
        }
    }

    /// The exit status of a process that stopped because of this signal, by the shells'
    /// convention of 128 + the signal's number (bash(1), "EXIT STATUS"): 130, 143 or 129.
    pub fn exit_code(self) -> u8 {
        128 + self.number()
    }

    /// How a person names it: `Ctrl-C` for SIGINT, else the signal's name.
    pub fn describe(self) -> &'static str {
        match self {
            StopSignal::Interrupt => "Ctrl-C",
            other => other.name(),
        }
    }

    fn kind(self) -> SignalKind {
        match self {
            StopSignal::Interrupt => SignalKind::interrupt(),
            StopSignal::Terminate => SignalKind::terminate(),
            StopSignal::Hangup => SignalKind::hangup(),
        }
    }
}

impl std::fmt::Display for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The stop signals received since [`StopSignals::watch`], in order. Cheap to clone; every
/// clone sees the same signals.
#[derive(Clone, Debug)]
pub struct StopSignals {
    received: watch::Receiver<Vec<StopSignal>>,
}

impl StopSignals {
    /// Starts watching SIGINT, SIGTERM and SIGHUP in a task of the current Tokio runtime
    /// (panics outside one, like `tokio::spawn`). From then on these signals no longer end the
    /// process by themselves (tokio's handlers replace the default action for the rest of its
    /// life): the caller acts on them. A signal whose handler cannot be installed (`signal(2)`
    /// refused) keeps its default action; that is logged as a warning.
    pub fn watch() -> StopSignals {
        let mut streams = Vec::new();
        for stop in StopSignal::ALL {
            match signal(stop.kind()) {
                Ok(stream) => streams.push((stop, stream)),
                Err(error) => tracing::warn!(signal = stop.name(), %error, "failed to watch"),
            }
        }
        let (sender, received) = watch::channel(Vec::new());
        tokio::spawn(async move {
            let mut streams = streams;
            loop {
                let next = next_of(&mut streams).await;
                tracing::info!(signal = next.name(), "received a stop signal");
                sender.send_modify(|received| received.push(next));
                if sender.is_closed() {
                    return;
                }
            }
        });
        StopSignals { received }
    }

    /// The first signal received so far, if any.
    pub fn first(&self) -> Option<StopSignal> {
        self.received.borrow().first().copied()
    }

    /// How many signals were received so far.
    pub fn count(&self) -> usize {
        self.received.borrow().len()
    }

    /// Waits until `n` signals (1 or more) have been received, and returns the `n`th; returns
    /// at once when that many already were.
    pub async fn nth(&self, n: usize) -> StopSignal {
        let mut received = self.received.clone();
        let n = n.max(1);
        let nth = match received.wait_for(|signals| signals.len() >= n).await {
            Ok(signals) => Some(signals[n - 1]),
            // The watching task ended (its runtime is shutting down): nothing more comes.
            Err(_) => None,
        };
        match nth {
            Some(signal) => signal,
            None => std::future::pending().await,
        }
    }
}

/// The next signal of any of `streams`.
async fn next_of(streams: &mut [(StopSignal, tokio::signal::unix::Signal)]) -> StopSignal {
    std::future::poll_fn(|context| {
        for (stop, stream) in streams.iter_mut() {
            if stream.poll_recv(context).is_ready() {
                return std::task::Poll::Ready(*stop);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shells_convention() {
        assert_eq!(StopSignal::Interrupt.exit_code(), 130);
        assert_eq!(StopSignal::Terminate.exit_code(), 143);
        assert_eq!(StopSignal::Hangup.exit_code(), 129);
        assert_eq!(
            serde_json::to_string(&StopSignal::Terminate).unwrap(),
            "\"SIGTERM\""
        );
    }

    #[tokio::test]
    async fn signals_sent_to_the_process_are_seen_in_order() {
        let signals = StopSignals::watch();
        let me = rustix::process::getpid();
        rustix::process::kill_process(me, rustix::process::Signal::HUP).unwrap();
        assert_eq!(signals.nth(1).await, StopSignal::Hangup);
        rustix::process::kill_process(me, rustix::process::Signal::TERM).unwrap();
        assert_eq!(signals.nth(2).await, StopSignal::Terminate);
        assert_eq!(signals.first(), Some(StopSignal::Hangup));
        assert_eq!(signals.count(), 2);
    }
}
