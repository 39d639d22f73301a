//! Prometheus metrics served at `/metrics`, and [`CountedStore`], which keeps the blob
//! store's totals up to date as blobs are committed and deleted, so that a scrape costs
//! the same whatever the store holds (it used to walk every blob file: 75 ms at 30k
//! blobs, for anyone who could reach `/metrics`).

use std::io;
use std::sync::Arc;
use std::time::SystemTime;

use crate::digest::BlobDigest;
use futures_util::future::{BoxFuture, FutureExt};

use crate::storage::{Appended, BlobStat, BlobStore, BodyRx, ByteStream, Committed, UploadState};

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
    /// Bytes of stored blobs (kept by [`CountedStore`]).
    pub store_bytes: IntGauge,
    /// Stored blobs (kept by [`CountedStore`]).
    pub store_blobs: IntGauge,
    /// Set once the store totals have been counted from the store itself (the first
    /// scrape does it; from then on [`CountedStore`] keeps them).
    pub store_counted: Arc<tokio::sync::OnceCell<()>>,
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
            store_counted: Arc::default(),
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

/// How many locks commits and deletes are spread over: two requests on one digest take
/// the same lock, so "was it stored before?" and the change are one step for the totals.
const STRIPES: usize = 64;

/// A [`BlobStore`] that keeps `pqreg_store_bytes` and `pqreg_store_blobs` up to date: a
/// commit that stores a new blob adds it, a delete that removes one subtracts it. The
/// totals start from one walk of the store ([`recount`]), done with every
/// commit and delete held off.
pub struct CountedStore {
    inner: Arc<dyn BlobStore>,
    metrics: Metrics,
    stripes: Vec<tokio::sync::Mutex<()>>,
}

impl CountedStore {
    /// Wraps `inner`, counting into `metrics`.
    pub fn new(inner: Arc<dyn BlobStore>, metrics: Metrics) -> Self {
        CountedStore {
            inner,
            metrics,
            stripes: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
        }
    }

    fn stripe(&self, d: &BlobDigest) -> &tokio::sync::Mutex<()> {
        let b = d.to_string();
        let last = b.as_bytes().last().copied().unwrap_or(0) as usize;
        let prev = b
            .as_bytes()
            .get(b.len().wrapping_sub(2))
            .copied()
            .unwrap_or(0) as usize;
        &self.stripes[(last * 31 + prev) % STRIPES]
    }

    fn add(&self, blobs: i64, bytes: u64) {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        self.metrics.store_blobs.add(blobs);
        self.metrics.store_bytes.add(blobs.signum() * bytes);
    }
}

/// Sets the store totals from a walk of `store`. The caller holds off every commit and
/// delete meanwhile (the server holds its GC lock exclusively), so the walk is exact.
pub async fn recount(store: &dyn BlobStore, metrics: &Metrics) -> io::Result<()> {
    let blobs = store.list().await?;
    let bytes: u64 = blobs.iter().map(|(_, s)| s.size).sum();
    metrics
        .store_bytes
        .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    metrics
        .store_blobs
        .set(i64::try_from(blobs.len()).unwrap_or(i64::MAX));
    Ok(())
}

impl BlobStore for CountedStore {
    fn stat<'a>(&'a self, digest: &'a BlobDigest) -> BoxFuture<'a, io::Result<Option<BlobStat>>> {
        self.inner.stat(digest)
    }

    fn get<'a>(
        &'a self,
        digest: &'a BlobDigest,
        range: Option<(u64, u64)>,
    ) -> BoxFuture<'a, io::Result<Option<(u64, ByteStream)>>> {
        self.inner.get(digest, range)
    }

    fn local_file<'a>(
        &'a self,
        digest: &'a BlobDigest,
    ) -> BoxFuture<'a, io::Result<Option<std::fs::File>>> {
        self.inner.local_file(digest)
    }

    fn delete<'a>(&'a self, digest: &'a BlobDigest) -> BoxFuture<'a, io::Result<bool>> {
        async move {
            let _one = self.stripe(digest).lock().await;
            let before = self.inner.stat(digest).await?;
            let removed = self.inner.delete(digest).await?;
            if removed && let Some(s) = before {
                self.add(-1, s.size);
            }
            Ok(removed)
        }
        .boxed()
    }

    fn quarantine<'a>(
        &'a self,
        digest: &'a BlobDigest,
    ) -> BoxFuture<'a, io::Result<Option<String>>> {
        async move {
            let _one = self.stripe(digest).lock().await;
            let before = self.inner.stat(digest).await?;
            let moved = self.inner.quarantine(digest).await?;
            if moved.is_some()
                && let Some(s) = before
            {
                self.add(-1, s.size);
            }
            Ok(moved)
        }
        .boxed()
    }

    fn list(&self) -> BoxFuture<'_, io::Result<Vec<(BlobDigest, BlobStat)>>> {
        self.inner.list()
    }

    fn touch<'a>(&'a self, digest: &'a BlobDigest) -> BoxFuture<'a, io::Result<bool>> {
        self.inner.touch(digest)
    }

    fn append<'a>(
        &'a self,
        id: &'a str,
        offset: u64,
        state: Option<UploadState>,
        body: BodyRx,
    ) -> BoxFuture<'a, io::Result<Appended>> {
        self.inner.append(id, offset, state, body)
    }

    fn commit<'a>(
        &'a self,
        id: &'a str,
        state: UploadState,
        expected: &'a BlobDigest,
    ) -> BoxFuture<'a, io::Result<Committed>> {
        async move {
            let _one = self.stripe(expected).lock().await;
            let existed = self.inner.stat(expected).await?.is_some();
            let done = self.inner.commit(id, state, expected).await?;
            if let Committed::Stored { size } = done
                && !existed
            {
                self.add(1, size);
            }
            Ok(done)
        }
        .boxed()
    }

    fn abort<'a>(&'a self, id: &'a str) -> BoxFuture<'a, io::Result<()>> {
        self.inner.abort(id)
    }

    fn list_uploads(&self) -> BoxFuture<'_, io::Result<Vec<(String, SystemTime)>>> {
        self.inner.list_uploads()
    }

    fn total_size(&self) -> BoxFuture<'_, io::Result<u64>> {
        async move { Ok(u64::try_from(self.metrics.store_bytes.get()).unwrap_or(0)) }.boxed()
    }
}
