//! The access checks are part of the routes (spec/auth.md §2): an app built from
//! `api::configure` alone, without any app-level middleware, still refuses an anonymous
//! log submission with `401` and logs nothing. (That the submission handler itself also
//! refuses a request without an access decision, issue 12 §6, is checked by the unit test
//! `api::tests::submission_without_access_decision_is_refused`.)
#![allow(clippy::unwrap_used)]

use crate::common::signed::Publisher;
use actix_web::test as at;
use actix_web::{App, web};
use pqreg_registry::auth::Mode;
use pqreg_registry::config::Config;
use pqreg_spec::Digest;
use pqreg_spec::keys::SignatureAlgorithm;

#[test]
fn routes_without_app_middleware_still_check_access() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(
        &htpasswd,
        format!("alice:{}\n", bcrypt::hash("pw", 4).unwrap()),
    )
    .unwrap();
    let mut cfg = Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().join("data"),
        ..Config::default()
    };
    cfg.auth.mode = Mode::Basic;
    cfg.auth.htpasswd = Some(htpasswd);
    let state = web::Data::new(pqreg_registry::open_state(cfg).unwrap());
    let p = Publisher::new(SignatureAlgorithm::MlDsa65);
    let m = Digest::sha256(b"no such manifest");
    let env = p.envelope(Publisher::statement(Some(m), 1));
    let body = p.submission("acme/model", Some("v1"), m, &env);
    actix_web::rt::System::new().block_on(async move {
        let app = at::init_service(
            App::new()
                .app_data(state.clone())
                .configure(pqreg_registry::api::configure),
        )
        .await;
        let req = at::TestRequest::post()
            .uri("/log/v1/entries")
            .insert_header(("Content-Type", "application/json"))
            .set_payload(body)
            .to_request();
        let resp = at::call_service(&app, req).await;
        let status = resp.status().as_u16();
        let bytes = at::read_body(resp).await;
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(status, 401, "{text}");
        assert!(text.contains("UNAUTHORIZED"), "{text}");
        assert_eq!(state.log.head().size, 0, "nothing was logged");
    });
}
