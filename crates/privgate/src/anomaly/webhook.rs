//! Sends alerts to a webhook as JSON (`POST`, `Content-Type: application/json`), one
//! request per alert, from a background task.
//!
//! [`WebhookSender::send`] never blocks and never fails: it puts the alert on a bounded
//! queue (`webhook.queue`), and when the queue is full the alert is dropped and counted,
//! so a slow or dead receiver costs the gateway nothing but alerts. The task sends in
//! order; an attempt that errs, times out (`webhook.timeout`, the whole exchange) or gets
//! a status other than 2xx is retried `webhook.retries` times, waiting `webhook.backoff`
//! and then twice as long each time (at most 30 s), and then given up and counted as
//! failed. The counters ([`WebhookCounters`]) are for metrics.
//!
//! The body carries the alert's kind, severity, subject (the acting identity), route,
//! time (RFC 3339, UTC), observed value, baseline and threshold; no data subject's values
//! ever reach an alert. Plain `http://` only: put a local relay in front of an HTTPS
//! receiver.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, USER_AGENT};
use hyper::Request;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::config::WebhookConfig;
use super::Alert;

/// The longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Delivery counts, shared with the metrics.
#[derive(Debug, Default)]
pub struct WebhookCounters {
    /// Alerts delivered (a 2xx answer).
    pub sent: AtomicU64,
    /// Alerts given up after every retry.
    pub failed: AtomicU64,
    /// Alerts dropped because the queue was full (or the sender closed).
    pub dropped: AtomicU64,
    /// Attempts retried.
    pub retried: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookCounts {
    /// See [`WebhookCounters::sent`].
    pub sent: u64,
    /// See [`WebhookCounters::failed`].
    pub failed: u64,
    /// See [`WebhookCounters::dropped`].
    pub dropped: u64,
    /// See [`WebhookCounters::retried`].
    pub retried: u64,
}

impl WebhookCounters {
    /// The counts now.
    pub fn snapshot(&self) -> WebhookCounts {
        WebhookCounts {
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
        }
    }
}

/// The sending half; cheap to call from under the detector's lock.
#[derive(Debug)]
pub struct WebhookSender {
    tx: mpsc::Sender<Alert>,
    counters: Arc<WebhookCounters>,
    worker: JoinHandle<()>,
}

impl WebhookSender {
    /// Starts the sending task on the current tokio runtime (call it inside one).
    pub fn spawn(config: WebhookConfig) -> WebhookSender {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let counters = Arc::new(WebhookCounters::default());
        let worker = tokio::spawn(run(config, rx, Arc::clone(&counters)));
        WebhookSender {
            tx,
            counters,
            worker,
        }
    }

    /// Queues `alert`; drops and counts it when the queue is full. Never blocks.
    pub fn send(&self, alert: &Alert) {
        if self.tx.try_send(alert.clone()).is_err() {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The delivery counters.
    pub fn counters(&self) -> Arc<WebhookCounters> {
        Arc::clone(&self.counters)
    }

    /// Stops taking alerts and waits until the queued ones are sent or given up.
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "the gateway lets the task end with the runtime")
    )]
    pub async fn close(self) {
        drop(self.tx);
        let _ = self.worker.await;
    }
}

/// The alert as the webhook receives it.
pub fn alert_json(alert: &Alert) -> String {
    let at = i64::try_from(alert.at_ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|t| t.to_string());
    serde_json::json!({
        "kind": alert.kind.as_str(),
        "severity": alert.kind.severity(),
        "subject": alert.subject,
        "route": alert.route,
        "at": at,
        "observed": alert.observed,
        "baseline": alert.baseline,
        "threshold": alert.threshold,
    })
    .to_string()
}

async fn run(config: WebhookConfig, mut rx: mpsc::Receiver<Alert>, counters: Arc<WebhookCounters>) {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(config.timeout));
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(connector);
    while let Some(alert) = rx.recv().await {
        let body = Bytes::from(alert_json(&alert));
        let mut delay = config.backoff;
        let mut attempt = 0;
        loop {
            match post(&client, &config, body.clone()).await {
                Ok(()) => {
                    counters.sent.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(why) if attempt >= config.retries => {
                    counters.failed.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        kind = alert.kind.as_str(),
                        attempts = attempt + 1,
                        "alert webhook gave up: {why}"
                    );
                    break;
                }
                Err(_) => {
                    counters.retried.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(MAX_BACKOFF);
                    attempt += 1;
                }
            }
        }
    }
}

/// One attempt: the whole exchange within the timeout, a 2xx status.
async fn post(
    client: &Client<HttpConnector, Full<Bytes>>,
    config: &WebhookConfig,
    body: Bytes,
) -> Result<(), String> {
    let request = Request::post(config.url.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(USER_AGENT, concat!("privgate/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let exchange = async {
        let response = client.request(request).await.map_err(|e| e.to_string())?;
        let status = response.status();
        // Read the answer to its end so the connection can be reused.
        response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("status {status}"))
        }
    };
    match tokio::time::timeout(config.timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {:?}", config.timeout)),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use std::sync::Mutex;

    use hyper::body::Incoming;
    use hyper::service::service_fn;
    use hyper::{Response, StatusCode};
    use hyper_util::rt::TokioIo;
    use tokio::net::TcpListener;
    use tokio::sync::Notify;

    use super::*;
    use crate::anomaly::AlertKind;

    /// A receiver on 127.0.0.1: answers each request with the next scripted status
    /// (200 once the script is used up), after `gate` is notified when one is given.
    #[derive(Clone, Default)]
    struct Receiver {
        script: Arc<Mutex<VecDeque<u16>>>,
        bodies: Arc<Mutex<Vec<(String, String)>>>,
        arrived: Arc<Notify>,
        gate: Option<Arc<Notify>>,
    }

    impl Receiver {
        async fn start(self) -> SocketAddr {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let me = self.clone();
                    tokio::spawn(async move {
                        let service = service_fn(move |req: Request<Incoming>| {
                            let me = me.clone();
                            async move {
                                let content_type = req
                                    .headers()
                                    .get(CONTENT_TYPE)
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or_default()
                                    .to_owned();
                                let body = req.into_body().collect().await.unwrap().to_bytes();
                                me.bodies.lock().unwrap().push((
                                    content_type,
                                    String::from_utf8(body.to_vec()).unwrap(),
                                ));
                                me.arrived.notify_one();
                                if let Some(gate) = &me.gate {
                                    gate.notified().await;
                                }
                                let status = me.script.lock().unwrap().pop_front().unwrap_or(200);
                                Ok::<_, Infallible>(
                                    Response::builder()
                                        .status(StatusCode::from_u16(status).unwrap())
                                        .body(Full::new(Bytes::from_static(b"ok")))
                                        .unwrap(),
                                )
                            }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
            addr
        }

        fn received(&self) -> Vec<(String, String)> {
            self.bodies.lock().unwrap().clone()
        }
    }

    fn config(addr: SocketAddr, retries: u32, queue: usize) -> WebhookConfig {
        WebhookConfig {
            url: format!("http://{addr}/alerts").parse().unwrap(),
            timeout: Duration::from_secs(5),
            retries,
            queue,
            backoff: Duration::from_millis(10),
        }
    }

    fn alert(subject: &str) -> Alert {
        Alert {
            kind: AlertKind::VolumeSpike,
            subject: subject.into(),
            route: None,
            at_ms: 1_794_337_200_000,
            observed: 900.0,
            baseline: Some(3.5),
            threshold: Some(500.0),
        }
    }

    #[test]
    fn json_shape() {
        let json: serde_json::Value = serde_json::from_str(&alert_json(&alert("r3"))).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "kind": "volume_spike",
                "severity": "warning",
                "subject": "r3",
                "route": null,
                "at": "2026-11-10T19:00:00Z",
                "observed": 900.0,
                "baseline": 3.5,
                "threshold": 500.0,
            })
        );
        let off = Alert {
            kind: AlertKind::ExportOffHours,
            route: Some("appointment-export".into()),
            at_ms: 1_794_337_200_123,
            baseline: None,
            threshold: None,
            ..alert("exporter")
        };
        let json: serde_json::Value = serde_json::from_str(&alert_json(&off)).unwrap();
        assert_eq!(json["severity"], "critical");
        assert_eq!(json["route"], "appointment-export");
        assert_eq!(json["at"], "2026-11-10T19:00:00.123Z");
        assert!(json["baseline"].is_null());
    }

    #[tokio::test]
    async fn delivers_and_retries_on_500() {
        let receiver = Receiver::default();
        receiver.script.lock().unwrap().extend([500, 503]);
        let addr = receiver.clone().start().await;
        let sender = WebhookSender::spawn(config(addr, 3, 10));
        sender.send(&alert("r3"));
        let counters = sender.counters();
        sender.close().await;
        assert_eq!(
            counters.snapshot(),
            WebhookCounts {
                sent: 1,
                failed: 0,
                dropped: 0,
                retried: 2
            }
        );
        let got = receiver.received();
        assert_eq!(got.len(), 3, "two 5xx then a 200");
        for (content_type, body) in &got {
            assert_eq!(content_type, "application/json");
            let json: serde_json::Value = serde_json::from_str(body).unwrap();
            assert_eq!(json["kind"], "volume_spike");
            assert_eq!(json["subject"], "r3");
        }
    }

    #[tokio::test]
    async fn gives_up_after_the_retries() {
        let receiver = Receiver::default();
        receiver.script.lock().unwrap().extend([500; 10]);
        let addr = receiver.clone().start().await;
        let sender = WebhookSender::spawn(config(addr, 2, 10));
        sender.send(&alert("a"));
        let counters = sender.counters();
        sender.close().await;
        assert_eq!(
            receiver.received().len(),
            3,
            "the first attempt and two retries"
        );
        assert_eq!(
            counters.snapshot(),
            WebhookCounts {
                sent: 0,
                failed: 1,
                dropped: 0,
                retried: 2
            }
        );
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_without_blocking() {
        let gate = Arc::new(Notify::new());
        let receiver = Receiver {
            gate: Some(Arc::clone(&gate)),
            ..Receiver::default()
        };
        let addr = receiver.clone().start().await;
        let sender = WebhookSender::spawn(config(addr, 0, 1));
        sender.send(&alert("first")); // taken by the task, held by the receiver
        receiver.arrived.notified().await;
        sender.send(&alert("second")); // waits in the queue (capacity 1)
        sender.send(&alert("third")); // dropped
        sender.send(&alert("fourth")); // dropped
        let counters = sender.counters();
        assert_eq!(counters.snapshot().dropped, 2);
        gate.notify_one();
        receiver.arrived.notified().await;
        gate.notify_one();
        sender.close().await;
        let subjects: Vec<String> = receiver
            .received()
            .iter()
            .map(|(_, b)| {
                serde_json::from_str::<serde_json::Value>(b).unwrap()["subject"].to_string()
            })
            .collect();
        assert_eq!(subjects, ["\"first\"", "\"second\""]);
        assert_eq!(counters.snapshot().sent, 2);
    }

    #[tokio::test]
    async fn an_unreachable_receiver_counts_as_failed() {
        // Bind then drop: the port refuses connections.
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let sender = WebhookSender::spawn(config(addr, 1, 10));
        sender.send(&alert("a"));
        let counters = sender.counters();
        sender.close().await;
        assert_eq!(counters.snapshot().failed, 1);
        assert_eq!(counters.snapshot().retried, 1);
    }
}
