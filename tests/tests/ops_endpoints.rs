//! Operational endpoints and read-only mode (`spec/api.md`, "Health", "Metrics",
//! "Read-only mode"), black-box.

use pqreg_tests::Registry;
use pqreg_tests::oci::*;

#[test]
fn health_and_metrics() {
    let reg = Registry::start();
    let c = reg.client();
    let r = c.get("/livez");
    assert_eq!(r.status, 200);
    let r = c.get("/readyz");
    assert_eq!(r.status, 200);
    let blob = random_bytes(90, 12_345);
    let d = push_blob(&c, "ops/repo", &blob);
    assert_eq!(c.get(&blob_path("ops/repo", &d)).status, 200);
    let r = c.get("/metrics");
    assert_eq!(r.status, 200);
    let text = r.text();
    for metric in [
        "pqreg_http_requests_total",
        "pqreg_http_request_duration_seconds",
        "pqreg_http_bytes_in_total",
        "pqreg_http_bytes_out_total",
    ] {
        assert!(text.contains(metric), "/metrics lacks {metric}:\n{text}");
    }
    let value = |name: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(
        value("pqreg_http_bytes_in_total") >= 12_345.0,
        "bytes in counted"
    );
    assert!(
        value("pqreg_http_bytes_out_total") >= 12_345.0,
        "bytes out counted"
    );
}

#[test]
fn read_only_mode_refuses_writes_serves_reads() {
    let mut reg = Registry::start();
    let c = reg.client();
    let (_, md) = push_image(&c, "ro/repo", "v1", 91, 1);
    let loc = open_session(&c, "ro/repo");
    reg.restart_with_env(&[("PQREG_REGISTRY__READ_ONLY", "true")]);
    let c = reg.client();
    for (method, path) in [
        ("POST", uploads_path("ro/repo")),
        ("PATCH", loc.clone()),
        ("PUT", manifest_path("ro/repo", "v2")),
        ("DELETE", manifest_path("ro/repo", &md)),
    ] {
        let r = c.must(method, &path, &[("Content-Type", MT_MANIFEST)], b"{}");
        assert_error(&r, 405, Some("UNSUPPORTED"));
    }
    assert_eq!(c.get("/v2/").status, 200);
    assert_eq!(
        get_manifest(&c, "ro/repo", "v1").status,
        200,
        "reads are unaffected"
    );
    assert_eq!(get_manifest(&c, "ro/repo", &md).status, 200);
}
