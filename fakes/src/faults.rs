//! Fault injection and the request log shared by the fakes.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

/// What to do to the next `times` requests whose "METHOD /path" starts with `route`.
#[derive(Debug, Clone)]
pub struct Fault {
    /// e.g. "POST /v1/Trunks" or "POST /twirp/livekit.SIP/CreateSIPInboundTrunk"; "" matches all.
    pub route: String,
    pub times: u32,
    pub action: FaultAction,
}

#[derive(Debug, Clone)]
pub enum FaultAction {
    /// Answer with this status and JSON body instead of handling the request.
    Respond {
        status: u16,
        body: serde_json::Value,
    },
    /// Handle the request normally, after this delay.
    Delay(Duration),
    /// Never answer in any useful time (the client's time-out fires).
    Hang,
}

impl Fault {
    pub fn respond(route: &str, times: u32, status: u16, body: serde_json::Value) -> Self {
        Fault {
            route: route.to_string(),
            times,
            action: FaultAction::Respond { status, body },
        }
    }

    pub fn delay(route: &str, times: u32, delay: Duration) -> Self {
        Fault {
            route: route.to_string(),
            times,
            action: FaultAction::Delay(delay),
        }
    }

    pub fn hang(route: &str, times: u32) -> Self {
        Fault {
            route: route.to_string(),
            times,
            action: FaultAction::Hang,
        }
    }
}

/// One request as a fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Form or JSON body parameters (Twilio) / the decoded request as JSON (LiveKit).
    pub body: String,
}

impl Recorded {
    /// "METHOD /path".
    pub fn line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

#[derive(Clone, Default)]
pub struct Faults {
    inner: Arc<Mutex<FaultState>>,
}

#[derive(Default)]
struct FaultState {
    faults: Vec<Fault>,
    log: Vec<Recorded>,
    /// Latency added to every request (sandbox "slow provider" and benchmarks).
    latency: Option<Duration>,
}

impl Faults {
    pub fn inject(&self, fault: Fault) {
        if let Ok(mut s) = self.inner.lock() {
            s.faults.push(fault);
        }
    }

    pub fn clear(&self) {
        if let Ok(mut s) = self.inner.lock() {
            s.faults.clear();
        }
    }

    pub fn set_latency(&self, latency: Option<Duration>) {
        if let Ok(mut s) = self.inner.lock() {
            s.latency = latency;
        }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner.lock().map(|s| s.log.clone()).unwrap_or_default()
    }

    pub fn clear_requests(&self) {
        if let Ok(mut s) = self.inner.lock() {
            s.log.clear();
        }
    }

    /// Records the request and applies the first matching fault. Returns a response to
    /// send instead of handling the request, if the fault says so.
    pub async fn before(&self, request: Recorded) -> Option<(u16, serde_json::Value)> {
        let line = request.line();
        let (action, latency) = match self.inner.lock() {
            Ok(mut s) => {
                s.log.push(request);
                let latency = s.latency;
                let found = s
                    .faults
                    .iter_mut()
                    .find(|f| f.times > 0 && line.starts_with(&f.route));
                let action = found.map(|f| {
                    f.times -= 1;
                    f.action.clone()
                });
                s.faults.retain(|f| f.times > 0);
                (action, latency)
            }
            Err(_) => (None, None),
        };
        if let Some(latency) = latency {
            tokio::time::sleep(latency).await;
        }
        match action {
            None => None,
            Some(FaultAction::Delay(d)) => {
                tokio::time::sleep(d).await;
                None
            }
            Some(FaultAction::Hang) => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                None
            }
            Some(FaultAction::Respond { status, body }) => Some((status, body)),
        }
    }
}
