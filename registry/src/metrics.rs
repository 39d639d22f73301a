//! Prometheus metrics served at `/metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// The registry's metrics (cheap to clone: the collectors are shared).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by route pattern, method and status.
    pub requests: IntCounterVec,
    /// Latency by route pattern, method and status.
    pub latency: HistogramVec,
    /// Request body bytes received by uploads and manifest pushes.
    pub bytes_in: IntCounter,
    /// Blob and manifest bytes sent.
    pub bytes_out: IntCounter,
    /// Bytes of stored blobs (refreshed at each scrape).
    pub store_bytes: IntGauge,
    /// Stored blobs (refreshed at each scrape).
    pub store_blobs: IntGauge,
    /// Repositories, tags, manifests (refreshed at each scrape).
    pub objects: prometheus::IntGaugeVec,
}

impl Metrics {
    /// Creates and registers every collector.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("pqreg_http_requests_total", "HTTP requests"),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "pqreg_http_request_duration_seconds",
                "HTTP request latency",
            ),
            &["route", "method", "status"],
        )?;
        let bytes_in = IntCounter::new("pqreg_http_bytes_in_total", "request body bytes")?;
        let bytes_out =
            IntCounter::new("pqreg_http_bytes_out_total", "blob and manifest bytes sent")?;
        let store_bytes = IntGauge::new("pqreg_store_bytes", "bytes of stored blobs")?;
        let store_blobs = IntGauge::new("pqreg_store_blobs", "stored blobs")?;
        let objects = prometheus::IntGaugeVec::new(
            Opts::new("pqreg_meta_objects", "metadata rows by kind"),
            &["kind"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(bytes_in.clone()))?;
        registry.register(Box::new(bytes_out.clone()))?;
        registry.register(Box::new(store_bytes.clone()))?;
        registry.register(Box::new(store_blobs.clone()))?;
        registry.register(Box::new(objects.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            bytes_in,
            bytes_out,
            store_bytes,
            store_blobs,
            objects,
        })
    }

    /// Records one finished request.
    pub fn observe(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [route, method, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency.with_label_values(&labels).observe(seconds);
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
