//! The gRPC callback service over a real loopback connection: routing by method path, alone and
//! next to other routes on one tonic server.

use std::time::Duration;

use crony_sdk::grpc::CallbackService;
use crony_sdk::proto::v1::{ExecuteRequest, ExecuteResponse, execute_response};
use crony_sdk::{JobContext, Outcome, handler_fn};
use tonic::codegen::http::uri::PathAndQuery;

fn service() -> CallbackService {
    CallbackService::single(handler_fn(|ctx: JobContext| async move {
        Outcome::succeeded(format!("default:{}", ctx.payload))
    }))
    .method(
        "/billing.Jobs/Settle",
        handler_fn(|ctx: JobContext| async move {
            Outcome::succeeded(format!("settle:{}", ctx.payload))
        }),
    )
    .unwrap()
    .method(
        "/billing.Jobs/Reconcile",
        handler_fn(|_ctx: JobContext| async { Outcome::Accepted }),
    )
    .unwrap()
}

async fn call(addr: std::net::SocketAddr, path: &str) -> Result<ExecuteResponse, tonic::Status> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = tonic::client::Grpc::new(channel);
    client.ready().await.unwrap();
    let request = ExecuteRequest {
        execution_id: "e1".into(),
        job_id: "j1".into(),
        payload: "p".into(),
        attempt: 1,
        scheduled_at: Some(prost_types_now()),
        ..ExecuteRequest::default()
    };
    let codec = tonic_prost::ProstCodec::<ExecuteRequest, ExecuteResponse>::default();
    client
        .unary(
            tonic::Request::new(request),
            PathAndQuery::try_from(path).unwrap(),
            codec,
        )
        .await
        .map(tonic::Response::into_inner)
}

fn prost_types_now() -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp(),
        nanos: 0,
    }
}

async fn bind() -> (tokio::net::TcpListener, std::net::SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

#[tokio::test]
async fn each_method_path_reaches_its_handler() {
    let (listener, addr) = bind().await;
    let server = tokio::spawn(service().serve_with_listener(listener, std::future::pending()));
    tokio::time::sleep(Duration::from_millis(50)).await;

    let settle = call(addr, "/billing.Jobs/Settle").await.unwrap();
    assert_eq!(settle.output, "settle:p");
    assert_eq!(settle.status, execute_response::Status::Succeeded as i32);
    let reconcile = call(addr, "/billing.Jobs/Reconcile").await.unwrap();
    assert_eq!(reconcile.status, execute_response::Status::Accepted as i32);
    let default = call(addr, crony_sdk::grpc::DEFAULT_METHOD).await.unwrap();
    assert_eq!(default.output, "default:p");
    let unknown = call(addr, "/billing.Jobs/Refund").await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::Unimplemented);
    server.abort();
}

#[tokio::test]
async fn it_plugs_into_an_existing_tonic_server() {
    let (listener, addr) = bind().await;
    // Routes that may already hold other services; Crony's methods are added to them.
    let routes = service().add_to(tonic::service::Routes::default());
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_routes(routes)
            .serve_with_incoming(incoming),
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        call(addr, "/billing.Jobs/Settle").await.unwrap().output,
        "settle:p"
    );
    server.abort();

    // add_service: tonic routes the service's NamedService prefix to it.
    let (listener, addr) = bind().await;
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service())
            .serve_with_incoming(incoming),
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        call(addr, crony_sdk::grpc::DEFAULT_METHOD)
            .await
            .unwrap()
            .output,
        "default:p"
    );
    server.abort();
}
