//! `CRONY_CALLBACK_ALLOW` in the HTTP executor, against a real server on loopback: names are
//! judged by the addresses they resolve to, redirects only go to allowed hosts, and a refused
//! attempt never reaches the server.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;
use crony_agent::executor::{AttemptOutcome, AttemptStatus, Executors};
use crony_common::callback_allow::CallbackAllow;
use crony_proto::v1::{HttpTarget, target};

/// A server on 127.0.0.1 counting its calls; `/redirect` sends the client to
/// `http://127.0.0.1:{port}/ok` by address.
async fn start_server() -> (u16, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (ok_calls, redirect_calls) = (calls.clone(), calls.clone());
    let app = Router::new()
        .route(
            "/ok",
            get(move || async move {
                ok_calls.fetch_add(1, Ordering::SeqCst);
                "reached"
            }),
        )
        .route(
            "/redirect",
            get(move || async move {
                redirect_calls.fetch_add(1, Ordering::SeqCst);
                (
                    StatusCode::FOUND,
                    [(header::LOCATION, format!("http://127.0.0.1:{port}/ok"))],
                )
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, calls)
}

async fn call(allow: &str, url: String) -> AttemptOutcome {
    let job = support::job(
        "allow-job",
        target::Kind::Http(HttpTarget {
            method: "GET".into(),
            url,
            ..Default::default()
        }),
    );
    let executors =
        Executors::with_callback_allow(false, Some(CallbackAllow::parse(allow).unwrap()));
    executors
        .for_job(&job)
        .unwrap()
        .execute(&support::ctx())
        .await
}

fn assert_refused(outcome: &AttemptOutcome, mentions: &str) {
    assert_eq!(outcome.status, AttemptStatus::Failed, "{outcome:?}");
    assert!(
        outcome.error.contains("CRONY_CALLBACK_ALLOW") && outcome.error.contains(mentions),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn addresses_outside_the_networks_are_never_called() {
    let (port, calls) = start_server().await;
    // By address literal, and by a name that resolves to loopback.
    let literal = call("10.0.0.0/8", format!("http://127.0.0.1:{port}/ok")).await;
    assert_refused(&literal, "127.0.0.1");
    let named = call("10.0.0.0/8", format!("http://localhost:{port}/ok")).await;
    assert_refused(&named, "localhost");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the server was called");

    // Allowing the network lets both through.
    let allowed = call("127.0.0.0/8,::1", format!("http://localhost:{port}/ok")).await;
    assert_eq!(allowed.status, AttemptStatus::Succeeded, "{allowed:?}");
}

#[tokio::test]
async fn redirects_to_refused_hosts_are_not_followed() {
    let (port, calls) = start_server().await;
    // `localhost` is listed by name; the redirect goes to 127.0.0.1, which is not.
    let direct = call("localhost", format!("http://localhost:{port}/ok")).await;
    assert_eq!(direct.status, AttemptStatus::Succeeded, "{direct:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let redirected = call("localhost", format!("http://localhost:{port}/redirect")).await;
    assert_refused(&redirected, "127.0.0.1");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "only the redirect itself was served, not its target"
    );
}
