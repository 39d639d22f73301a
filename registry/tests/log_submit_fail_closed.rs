//! The log submission handler refuses a request that carries no access decision
//! (issue 12 §6: it used to skip the push check then, i.e. fail open). Over HTTP every
//! request passes the access-control middleware, which always leaves one, so this test
//! mounts the routes without the middleware and calls the handler directly.
#![allow(clippy::unwrap_used)]

mod common;

use actix_web::test as at;
use actix_web::{App, web};
use common::signed::Publisher;
use pqreg_registry::config::Config;
use pqreg_spec::Digest;
use pqreg_spec::keys::SignatureAlgorithm;

#[test]
fn submission_without_access_decision_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    let state = web::Data::new(pqreg_registry::open_state(cfg).unwrap());
    let p = Publisher::new(SignatureAlgorithm::MlDsa65);
    // A manifest that does not exist: a handler that skipped the push check would go on
    // and answer 404 MANIFEST_UNKNOWN instead of refusing.
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
        assert_eq!(status, 403, "{text}");
        assert!(text.contains("DENIED"), "{text}");
        assert_eq!(state.log.head().size, 0, "nothing was logged");
    });
}
