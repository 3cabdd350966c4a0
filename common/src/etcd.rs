//! Connecting to etcd the same way in every binary.

use std::time::Duration;

use etcd_client::{Client, ConnectOptions};

/// Connects and proves that etcd answers, so a wrong endpoint fails start-up with a clear
/// message instead of a process that silently sees nothing.
///
/// No HTTP/2 keep-alive pings: etcd 3.4 answered them with "too many pings" and dropped the
/// connection every few seconds, breaking every watch. Silent connection loss is detected by
/// the callers instead (lease keep-alive answers, watch progress requests).
pub async fn connect(endpoints: &[String], within: Duration) -> Result<Client, String> {
    let options = ConnectOptions::new().with_connect_timeout(Duration::from_secs(3));
    let probe = async {
        let mut client = Client::connect(endpoints, Some(options)).await?;
        client.status().await?;
        Ok::<_, etcd_client::Error>(client)
    };
    match tokio::time::timeout(within, probe).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", within.as_secs())),
    }
}
